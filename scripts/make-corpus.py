#!/usr/bin/env python3
"""Builds a folder of real-looking Chinese news articles from ../shared/eval for batch benchmarks.

Sources: the 19 headline-dev articles, the 20 WMT22 news documents, the real pasted article and the
two HTML pages. Variants (paragraph subsets, order of later paragraphs, GB18030 copies) multiply them
into COUNT distinct files spread over nested folders, so the batch sees thousands of distinct inputs.

usage: scripts/make-corpus.py OUT_DIR [COUNT] [EVAL_DIR]
"""
import json
import os
import random
import shutil
import sys

out = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
eval_dir = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "eval")

articles = []  # (title, [paragraphs])
with open(os.path.join(eval_dir, "headlines_dev.jsonl"), encoding="utf-8") as f:
    for line in f:
        row = json.loads(line)
        articles.append((row["headline"], row["body_paragraphs"]))
docs = {}
with open(os.path.join(eval_dir, "mt", "wmt22_zh-en_news.jsonl"), encoding="utf-8") as f:
    for line in f:
        row = json.loads(line)
        docs.setdefault(row["doc_id"], []).append(row["src_zh"])
for segments in docs.values():
    articles.append((segments[0], segments[1:] or segments))

pasted = open(os.path.join(eval_dir, "articles", "baoshan-north-transformation.txt"), encoding="utf-8").read()
pages = [os.path.join(eval_dir, "html", name) for name in sorted(os.listdir(os.path.join(eval_dir, "html")))]

rng = random.Random(20231024)  # fixed seed: the same corpus on every run
shutil.rmtree(out, ignore_errors=True)
for i in range(count):
    folder = os.path.join(out, f"y{2020 + i % 4}", f"m{i % 12 + 1:02d}")
    os.makedirs(folder, exist_ok=True)
    kind = i % 10
    if kind == 0:
        shutil.copy(pages[i % len(pages)], os.path.join(folder, f"a{i:05d}.html"))
        continue
    if kind == 1:
        with open(os.path.join(folder, f"a{i:05d}.txt"), "w", encoding="utf-8") as f:
            f.write(pasted.replace("点击:94次", f"点击:{i}次"))
        continue
    title, paragraphs = articles[i % len(articles)]
    body = list(paragraphs)
    if len(body) > 2:
        tail = body[1:]
        rng.shuffle(tail)
        body = [body[0]] + tail[: rng.randint(1, len(tail))]
    text = f"{title}\n\n2022-{i % 12 + 1:02d}-{i % 28 + 1:02d} 来源：新华网\n\n" + "\n".join(body) + f"\n\n（编号{i}）\n"
    encoding = "gb18030" if kind == 2 else "utf-8"
    with open(os.path.join(folder, f"a{i:05d}.txt"), "w", encoding=encoding) as f:
        f.write(text)
print(f"{count} articles under {out}")

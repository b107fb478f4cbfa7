#!/usr/bin/env python3
"""Scores zhbrief on ../shared/eval and prints one Markdown table. Run through scripts/eval.sh."""
import argparse, json, os, re, subprocess, sys, tempfile

import sacrebleu

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
ap = argparse.ArgumentParser()
ap.add_argument("--zhbrief", required=True)
ap.add_argument("--eval-dir", required=True)
ap.add_argument("--model", default=None)
ap.add_argument("--limit", type=int, default=None)
ap.add_argument("--first", type=int, default=1, help="first WMT22 segment (1-based), so long runs can be split")
ap.add_argument("--no-model", action="store_true")
ap.add_argument("--translation-only", action="store_true")
ap.add_argument("--pages-only", action="store_true", help="only the input stage on the labelled pages of html-peer/")
ap.add_argument("--pages-detail", action="store_true", help="also print each labelled page's fields, ours beside the label, on stderr")
ap.add_argument("--save", metavar="DIR", help="also write the translations there, one file per system")
ap.add_argument("--translations", metavar="DIR", help="score the zhbrief.en and plain.en saved there (e.g. split runs joined) instead of translating")
args = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
model_flags = ["--model", args.model] if args.model else []
rows = []


def zhbrief(*flags, stdin=None, check=True):
    run = subprocess.run([args.zhbrief, *flags], input=stdin, capture_output=True, text=True)
    if run.returncode != 0 and check:
        sys.exit(f"eval: zhbrief {' '.join(flags)} failed: {run.stderr.strip()}")
    return run.stdout if run.returncode == 0 else None


def lines(path, n=None):
    with open(path, encoding="utf-8") as f:
        out = [l.rstrip("\n") for l in f]
    return out[:n] if n else out


def segments(path):
    """The WMT22 segments selected by --first and --limit."""
    out = lines(path)[args.first - 1:]
    return out[:args.limit] if args.limit else out


def lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge(candidate, reference):
    """Character ROUGE-1/2/L F1 (Chinese has no word boundaries to agree on)."""
    c, r = [ch for ch in candidate if not ch.isspace()], [ch for ch in reference if not ch.isspace()]
    def f1(overlap, nc, nr):
        return 0.0 if overlap == 0 else 2 * overlap / (nc + nr)
    def grams(s, n):
        out = {}
        for i in range(len(s) - n + 1):
            out[tuple(s[i:i + n])] = out.get(tuple(s[i:i + n]), 0) + 1
        return out
    scores = []
    for n in (1, 2):
        gc, gr = grams(c, n), grams(r, n)
        scores.append(f1(sum(min(v, gr.get(k, 0)) for k, v in gc.items()), max(len(c) - n + 1, 0), max(len(r) - n + 1, 0)))
    scores.append(f1(lcs(c, r), len(c), len(r)))
    return scores


# The input stage on news pages labelled by other extractors' test suites (html-peer/).
def squeeze(text):
    return "".join((text or "").split())


def bigrams(text):
    out = {}
    for i in range(len(text) - 1):
        out[text[i:i + 2]] = out.get(text[i:i + 2], 0) + 1
    return out


# Readability's and fundus's title labels are raw page titles, site and channel names included:
# the headline each holds, cut from it by hand (the rest of each label is the site's suffix).
HEADLINES = {
    "readability-qq": "DeepMind新电脑已可利用记忆自学 人工智能迈上新台阶",
    "readability-gmw": "宇航员在太空中喝酒会怎么样？后果很严重",
    "readability-youth": "海外留学生看两会：出国前后关注点大不同",
    "readability-pixnet": "新竹尖石_美樹營地賞楓 (2)",
    "fundus-cn-people-20240424": "促进航天技术更好惠及人民――习近平主席向首届“中国－拉美和加勒比国家航天合作论坛”致贺信为中拉深化航天合作指明方向",
}


def title_right(ours, truth):
    return bool(ours) and squeeze(ours) == squeeze(truth)


def date_right(ours, truth):
    if not ours:
        return False
    day, _, time = truth.replace("T", " ").partition(" ")
    if not ours.startswith(day):
        return False
    return time[:5] in ("", "00:00") or ours[11:16] == time[:5]


def names(text):
    return {n for n in re.split(r"[,，、\s]+", text or "") if n}


def score_pages():
    folder = os.path.join(args.eval_dir, "html-peer")
    truths = [json.loads(l) for l in lines(os.path.join(folder, "truth.jsonl"))]
    counts = {k: [0, 0] for k in ("title", "date", "author", "author or editor", "snippets")}
    recall, precision, refused = [], [], 0
    for t in truths:
        out = zhbrief("--format", "json", "--sentences", "100000", os.path.join(folder, t["file"]), check=False)
        brief = json.loads(out) if out else {}
        refused += out is None
        body = squeeze("".join(brief.get("key_points", [])))
        detail = [t["id"] + (" (refused)" if out is None else "")]
        if t.get("title"):
            t["title"] = HEADLINES.get(t["id"], t["title"])
        for field, right in [("title", title_right), ("date", date_right),
                             ("author", lambda o, x: bool(o) and names(o) == names(x))]:
            if t.get(field):
                ok = right(brief.get(field), t[field])
                counts[field][0] += ok
                counts[field][1] += 1
                detail.append(f"  {field}: {'ok ' if ok else 'BAD'} {brief.get(field)!r} / {t[field]!r}")
        if t.get("author"):
            # Several labels take the responsible editor (责任编辑) for the author.
            ours = brief.get("author") or brief.get("editor")
            ok = bool(ours) and names(ours) == names(t["author"])
            counts["author or editor"][0] += ok
            counts["author or editor"][1] += 1
        if t.get("body"):
            truth_grams, our_grams = bigrams(squeeze(t["body"])), bigrams(body)
            shared = sum(min(v, our_grams.get(k, 0)) for k, v in truth_grams.items())
            recall.append(shared / max(sum(truth_grams.values()), 1))
            precision.append(shared / max(sum(our_grams.values()), 1) if our_grams else 0.0)
            detail.append(f"  body: recall {recall[-1]:.2f} precision {precision[-1]:.2f}")
        for snippet in (t.get("body_partial") or {}).get("with", []):
            counts["snippets"][0] += squeeze(snippet) in body
            counts["snippets"][1] += 1
        for snippet in (t.get("body_partial") or {}).get("without", []):
            counts["snippets"][0] += squeeze(snippet) not in body
            counts["snippets"][1] += 1
        if args.pages_detail:
            print("\n".join(detail), file=sys.stderr)
    data = f"{len(truths)} pages"
    for field in ("title", "date", "author", "author or editor"):
        right, total = counts[field]
        rows.append(("input stage (html-peer)", field, f"{right}/{total} right", "", "", data))
    rows.append(("input stage (html-peer)", "body, character bigrams", f"recall {100 * sum(recall) / max(len(recall), 1):.1f}%",
                 f"precision {100 * sum(precision) / max(len(precision), 1):.1f}%", f"{refused} refused", f"{len(recall)} labelled bodies"))
    right, total = counts["snippets"]
    rows.append(("input stage (html-peer)", "must / must-not contain snippets", f"{right}/{total} right", "", "", "trafilatura labels"))


if not args.translation_only:
    score_pages()
if args.pages_only:
    print("| part | system | score | score | note | data |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.exit(0)

# Translation: WMT22 zh→en news segments.
mt = os.path.join(args.eval_dir, "mt")
src = segments(os.path.join(mt, "wmt22_zh-en_news.src.zh"))
refs = [segments(os.path.join(mt, f"wmt22_zh-en_news.ref{x}.en")) for x in "AB"]
n = len(src)
span = f"{n} segments" if args.first == 1 else f"segments {args.first}–{args.first + n - 1}"


def untraced(hyps):
    """Lines whose numbers, dates or names `zhbrief check-english` cannot trace to the source."""
    with tempfile.TemporaryDirectory() as d:
        for name, text in [("src.zh", src), ("hyp.en", hyps)]:
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write("\n".join(text) + "\n")
        run = subprocess.run([args.zhbrief, "check-english", os.path.join(d, "src.zh"), os.path.join(d, "hyp.en")], capture_output=True, text=True)
    if run.returncode not in (0, 1):
        sys.exit(f"eval: zhbrief check-english failed: {run.stderr.strip()}")
    return len(run.stdout.splitlines())


CAPITALISED = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")


def names_not_in_references(hyps):
    """Share of capitalised words inside sentences that neither reference of the segment has."""
    total = missing = 0
    for i, hyp in enumerate(hyps):
        for word in CAPITALISED.findall(hyp):
            total += 1
            missing += not any(re.search(rf"\b{word}\b", r[i]) for r in refs)
    return 100 * missing / max(total, 1)


def score(name, hyps):
    chrf = sacrebleu.corpus_chrf(hyps, refs).score
    bleu = sacrebleu.corpus_bleu(hyps, refs).score
    han = sum(len(HAN.findall(h)) for h in hyps)
    check = f"untraced {untraced(hyps)}/{len(hyps)}, names not in refs {names_not_in_references(hyps):.1f}%"
    rows.append(("translation", name, f"chrF2 {chrf:.2f}", f"BLEU {bleu:.2f}", f"Han left {han}; {check}", span))

ours = plain = None
if args.translations:
    ours, plain = (lines(os.path.join(args.translations, f"{name}.en")) for name in ("zhbrief", "plain"))
elif not args.no_model:
    with tempfile.NamedTemporaryFile("w", suffix=".zh", delete=False, encoding="utf-8") as f:
        f.write("\n".join(src) + "\n")
    ours = zhbrief("translate", *model_flags, f.name).rstrip("\n").split("\n")
    # The baseline: one greedy translation per segment from a plain one-sentence prompt, Han
    # tokens masked (zhbrief's clean-up of the output applies to it too).
    plain = zhbrief("translate", *model_flags, "--candidates", "1", "--keep-flagged", "--prompts", os.path.join(here, "eval-prompts", "plain"), f.name).rstrip("\n").split("\n")
if ours is not None:
    assert len(ours) == n and len(plain) == n, f"line counts {len(ours)} and {len(plain)} for {n} segments"
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        for name, hyps in [("zhbrief", ours), ("plain", plain)]:
            with open(os.path.join(args.save, f"{name}.en"), "w", encoding="utf-8") as out:
                out.write("\n".join(hyps) + "\n")
    score("zhbrief translate (defaults)", ours)
    score("plain one-sentence prompt, greedy, Han masked", plain)
for x, ref in zip("AB", refs):
    # A human's faithful translation: what the English check flags in it is the check's own error.
    rows.append(("English check", f"WMT22 reference {x}", f"untraced {untraced(ref)}/{len(ref)}", "", "false flags (a reference is faithful)", span))
for name in sorted(os.listdir(mt)):
    m = re.match(r"wmt22_zh-en_news\.hyp\.(.+)\.en$", name)
    if m:
        score(f"WMT22 {m.group(1)}", segments(os.path.join(mt, name)))

# Headlines and extractive key points against the publishers' headlines.
articles = [] if args.translation_only else [json.loads(l) for l in lines(os.path.join(args.eval_dir, "headlines_dev.jsonl"))][: args.limit]
ours_r, lead_r, en_lead, fallback, total_sentences = [], [], [], 0, 0
for a in articles:
    body = "\n".join(a["body_paragraphs"])
    brief = json.loads(zhbrief("--format", "json", stdin=body))
    ours_r.append(rouge("".join(brief["key_points"][:1]), a["headline"]))
    first = re.split(r"(?<=[。！？])", body.strip().split("\n")[0])[0]
    lead_r.append(rouge(first, a["headline"]))
    if not args.no_model:
        full = json.loads(zhbrief("--format", "json", "--abstractive", "--translate", *model_flags, stdin=body))
        lead_en = full["translation"]["key_points"][0] if full["translation"]["key_points"] else ""
        en_lead.append(sacrebleu.sentence_chrf(lead_en, [a["headline_en_ref"]]).score)
        for s in full.get("summary", []):
            total_sentences += 1
            fallback += 1 if s["extractive_fallback"] else 0
mean = lambda xs, i: 100 * sum(x[i] for x in xs) / max(len(xs), 1)
for name, r in [("zhbrief first key point", ours_r), ("Lead-1 (first sentence)", lead_r)] if articles else []:
    rows.append(("extractive vs headline", name, f"R-1 {mean(r, 0):.1f}", f"R-2 {mean(r, 1):.1f}", f"R-L {mean(r, 2):.1f}", f"{len(r)} articles"))
if articles and not args.no_model:
    rows.append(("English lead vs headline", "chrF of translated first key point", f"chrF {sum(en_lead) / max(len(en_lead), 1):.1f}", "", "", f"{len(en_lead)} articles"))
    kept = total_sentences - fallback
    rows.append(("faithfulness", "summary sentences passing the check as written", f"{kept}/{total_sentences}", f"{100 * kept / max(total_sentences, 1):.0f}%", "(the rest were replaced by key points)", f"{len(articles)} articles"))

print("| part | system | score | score | note | data |")
print("|---|---|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(row) + " |")

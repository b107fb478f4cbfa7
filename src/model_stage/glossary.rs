//! Per-article glossaries for translation: names in pinyin, numbers and dates in English words, and
//! the user's own renderings (`--glossary FILE`, TSV `中文<TAB>English`), which win.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use pinyin::ToPinyin;
use regex::Regex;
use serde::Serialize;

use crate::error::Error;
use crate::segment;
use crate::text::{Dateline, fold_width, is_han, starts_with_surname};

/// One rendering: source text and its English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlossaryEntry {
    /// The Chinese.
    pub source: String,
    /// The English.
    pub target: String,
}

/// Reads a user glossary: one `中文<TAB>English` pair per line; `#` comments and blank lines skipped.
pub fn load_user_glossary(path: &Path) -> Result<Vec<GlossaryEntry>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{}: cannot read glossary: {e}", path.display())))?;
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((source, target)) = line.split_once('\t') else {
            return Err(Error::Config(format!("{}:{}: expected `中文<TAB>English`", path.display(), number + 1)));
        };
        entries.push(GlossaryEntry { source: source.trim().into(), target: target.trim().into() });
    }
    Ok(entries)
}

/// Places, organisations and news media whose English is fixed by usage rather than by their
/// pinyin (伊朗 → Iran, 新华社 → Xinhua News Agency). Small models left alone turn them into the
/// wrong famous name (新华社 became "The New York Times" in most WMT22 datelines); no crate holds
/// such a list, so it is data kept beside this module.
static KNOWN_NAMES: LazyLock<BTreeMap<&'static str, &'static str>> = LazyLock::new(|| {
    include_str!("known-names.tsv")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split_once('\t'))
        .collect()
});

/// Every known name: its Chinese and its English.
pub fn known_names() -> impl Iterator<Item = (&'static str, &'static str)> {
    KNOWN_NAMES.iter().map(|(chinese, english)| (*chinese, *english))
}

/// Known names this long are matched anywhere in the text; shorter ones only as whole words, so
/// that 朝鲜族 holds no North Korea and 增加纳税 no Ghana.
const ANYWHERE_CHARS: usize = 4;

/// English for administrative suffixes of place names.
const PLACE_SUFFIXES: &[(&str, &str)] =
    &[("省", "Province"), ("市", "City"), ("区", "District"), ("县", "County"), ("镇", "Town"), ("乡", "Township"), ("村", "Village")];

fn pinyin_of(text: &str) -> Option<Vec<&'static str>> {
    text.chars().map(|c| c.to_pinyin().map(|p| p.plain())).collect()
}

/// The text with its first letter in upper case.
pub fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// 陈杰 → Chen Jie; 欧阳修 stays surname + given name by the first character.
fn person_in_pinyin(name: &str) -> Option<String> {
    let first = name.chars().next()?;
    if !(2..=3).contains(&name.chars().count()) || !starts_with_surname(first) {
        return None;
    }
    let syllables = pinyin_of(name)?;
    Some(format!("{} {}", capitalise(syllables[0]), capitalise(&syllables[1..].concat())))
}

/// 宝山 → Baoshan; 宝山区 → Baoshan District; 中国 → China.
fn place_in_english(name: &str) -> Option<String> {
    if let Some(english) = KNOWN_NAMES.get(name) {
        return Some(english.to_string());
    }
    let (stem, suffix) = PLACE_SUFFIXES
        .iter()
        .find_map(|(zh, en)| name.strip_suffix(zh).filter(|s| s.chars().count() >= 2).map(|s| (s, Some(*en))))
        .unwrap_or((name, None));
    if !(2..=4).contains(&stem.chars().count()) {
        return None;
    }
    let stem_english = match KNOWN_NAMES.get(stem) {
        Some(english) => english.to_string(),
        None => capitalise(&pinyin_of(stem)?.concat()),
    };
    Some(match suffix {
        Some(suffix) => format!("{stem_english} {suffix}"),
        None => stem_english,
    })
}

/// English words for a number of 万/亿 units: 6000万 → 60 million.
fn large_number(value: f64) -> String {
    let (scaled, unit) = if value >= 1e9 {
        (value / 1e9, " billion")
    } else if value >= 1e6 {
        (value / 1e6, " million")
    } else {
        (value, "")
    };
    let rounded = (scaled * 100.0).round() / 100.0;
    let digits = if rounded.fract() == 0.0 { format!("{rounded:.0}") } else { format!("{rounded}") };
    let digits = if unit.is_empty() { with_thousands(&digits) } else { digits };
    format!("{digits}{unit}")
}

fn with_thousands(digits: &str) -> String {
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// `2`, `10` → `February 10`; `None` for a month or day out of range (a misread number, not a date).
fn english_date(month: &str, day: &str) -> Option<String> {
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    let month: usize = fold_width(month).parse().ok()?;
    let day: usize = fold_width(day).parse().ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then(|| format!("{} {day}", MONTHS[month - 1]))
}

/// English renderings of the numbers and dates in `text`, the things small models get wrong:
/// 2月10日 → February 10, 6000万元 → 60 million yuan, 3.4万人次 → 34,000 person-times.
pub fn number_hints(text: &str) -> Vec<GlossaryEntry> {
    static DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日").unwrap());
    static AMOUNT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d+(?:\.\d+)?)(万|亿)(元|人次|人|户|吨|平方米|平方公里)?").unwrap());
    let text = fold_width(text);
    let mut hints = Vec::new();
    for caps in DATE.captures_iter(&text) {
        let Some(mut english) = english_date(&caps[2], &caps[3]) else { continue };
        if let Some(year) = caps.get(1) {
            english.push_str(&format!(", {}", year.as_str()));
        }
        hints.push(GlossaryEntry { source: caps[0].to_string(), target: english });
    }
    for caps in AMOUNT.captures_iter(&text) {
        let Ok(number) = caps[1].parse::<f64>() else { continue };
        let value = number * if &caps[2] == "万" { 1e4 } else { 1e8 };
        let unit = match caps.get(3).map(|m| m.as_str()) {
            Some("元") => " yuan",
            Some("人次") => " person-times",
            Some("人") => " people",
            Some("户") => " households",
            Some("吨") => " tonnes",
            Some("平方米") => " square metres",
            Some("平方公里") => " square kilometres",
            _ => "",
        };
        hints.push(GlossaryEntry { source: caps[0].to_string(), target: format!("{}{unit}", large_number(value)) });
    }
    hints
}

/// Titles and verbs of saying next to which a name is a person's: jieba's `nr` tag alone also
/// fires on ordinary words (荣誉) and places (吴淞).
const PERSON_CONTEXT: &[&str] = &[
    "书记",
    "市长",
    "区长",
    "县长",
    "省长",
    "主任",
    "部长",
    "总理",
    "主席",
    "局长",
    "厅长",
    "院长",
    "校长",
    "经理",
    "董事长",
    "总书记",
    "总裁",
    "教授",
    "记者",
    "委员",
    "代表",
    "发言人",
    "表示",
    "指出",
    "介绍",
    "强调",
    "认为",
    "说",
    "称",
    "透露",
];

fn is_person(name: &str, text: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = &text[..at];
        let after = &text[at + name.len()..];
        PERSON_CONTEXT.iter().any(|title| before.ends_with(title) || after.starts_with(title))
    })
}

/// Names in the bylines of Chinese news: `（记者高文成 王守宝）`, `（全媒体记者 张尚武 通讯员 刘晓玲）`,
/// and a dateline's `电（黄小希 周珊珊）`. Only the first name of such a list stands beside a
/// title, and jieba seldom tags the rest as names.
fn byline_names(text: &str) -> Vec<&str> {
    const ROLES: &[&str] = &["全媒体记者", "特约记者", "见习记者", "实习生", "记者", "通讯员", "摄影"];
    static BYLINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[（(]([^（）()]{2,80})[）)]").unwrap());
    static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\s、，,：:]+").unwrap());
    let mut names = Vec::new();
    for caps in BYLINE.captures_iter(text) {
        let whole = caps.get(0).expect("the match");
        let inner = caps.get(1).expect("the group").as_str();
        let after_dateline = text[..whole.start()].ends_with(['电', '讯']);
        if !after_dateline && !ROLES.iter().any(|role| inner.contains(role)) {
            continue;
        }
        for word in SEPARATOR.split(inner) {
            let name = ROLES.iter().fold(word, |w, role| w.strip_prefix(role).unwrap_or(w));
            if (2..=3).contains(&name.chars().count()) && starts_with_surname(name.chars().next().unwrap_or(' ')) {
                names.push(name);
            }
        }
    }
    names
}

/// The English of the news dateline opening `unit`, and the bytes of `unit` it covers:
/// `新华社德黑兰12月11日电（记者高文成 王守宝）` → `Xinhua News Agency, Tehran, December 11
/// (reporters Gao Wencheng and Wang Shoubao)`. Agency stories open with one, and small models
/// translate the formula word by word ("Beijing May 20 Electricity") or give the agency another
/// name ("The New York Times", beside the right one written next to it); being a formula, it
/// is rendered here and only the rest goes to the model. `None` unless the agency has a fixed
/// English name and the place one too, or is a Chinese place (jieba `ns`) of two or three
/// characters, which pinyin renders (西宁 → Xining); a foreign place has no safe pinyin.
pub fn dateline(unit: &str) -> Option<(String, usize)> {
    let line = Dateline::parse(unit)?;
    let (month, day) = line.date?;
    let head = line.head;
    if !matches!(line.kind, "电" | "電") || !(4..=10).contains(&head.chars().count()) || !head.chars().all(is_han) {
        return None;
    }
    let (agency, place) = head.char_indices().skip(2).find_map(|(at, _)| {
        let agency = KNOWN_NAMES.get(&head[..at])?;
        let place = &head[at..];
        let english = match KNOWN_NAMES.get(place) {
            Some(english) => english.to_string(),
            None if (2..=3).contains(&place.chars().count())
                && segment::jieba().tag(place, true).iter().all(|t| t.word == place && t.tag == "ns") =>
            {
                capitalise(&pinyin_of(place)?.concat())
            }
            None => return None,
        };
        Some((agency, english))
    })?;
    let mut english = format!("{agency}, {place}, {}", english_date(month, day)?);
    let Some(credit) = line.credit else {
        return Some((english, line.end));
    };
    let names: Vec<String> = byline_names(&unit[..line.end]).into_iter().filter_map(person_in_pinyin).collect();
    let Some((last, earlier)) = names.split_last() else {
        // A note in brackets that is no byline: the model translates it with the rest.
        let bracket = unit[..line.end].rfind(['（', '(']).unwrap_or(line.end);
        return Some((english, unit[..bracket].trim_end().len()));
    };
    let role = if credit.contains("记者") { if earlier.is_empty() { "reporter " } else { "reporters " } } else { "" };
    let listed = if earlier.is_empty() { last.clone() } else { format!("{} and {last}", earlier.join(", ")) };
    english.push_str(&format!(" ({role}{listed})"));
    Some((english, line.end))
}

/// Builds the glossary of an article, sorted by source for deterministic prompts:
/// - people: jieba `nr` names with a common surname, seen beside a title or verb of saying or
///   in a byline, in pinyin (陈杰 → Chen Jie);
/// - places: words the article also uses with an administrative suffix (宝山 and 宝山区 →
///   Baoshan, Baoshan District), and papers named after them (湖南日报 → Hunan Daily);
/// - places, organisations and media with a fixed English name (新华社 → Xinhua News Agency);
/// - the user's entries, which override all of these.
pub fn article_glossary(text: &str, user: &[GlossaryEntry]) -> Vec<GlossaryEntry> {
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    for tag in segment::jieba().tag(text, true) {
        let word = tag.word;
        // `nrfg` is jieba's tag for well-known people (习近平); `nrt`, transliterated foreign
        // names, is left out: pinyin would be wrong for them.
        let english = if matches!(tag.tag, "nr" | "nrfg") && is_person(word, text) {
            person_in_pinyin(word)
        } else if let Some(english) = KNOWN_NAMES.get(word) {
            Some(english.to_string())
        } else if let Some(place) = word.strip_suffix("日报").filter(|p| (2..=3).contains(&p.chars().count())) {
            // 湖南日报 → Hunan Daily: the provincial and city dailies are named after their place.
            place_in_english(place).map(|place| format!("{place} Daily"))
        } else if (2..=3).contains(&word.chars().count())
            && word.chars().all(is_han)
            && PLACE_SUFFIXES.iter().any(|(suffix, _)| text.contains(&format!("{word}{suffix}")))
            && text.matches(word).count() >= 2
            && matches!(tag.tag, "ns" | "nr" | "nz")
        {
            place_in_english(word)
        } else {
            None
        };
        if let Some(english) = english {
            entries.entry(word.to_string()).or_insert(english);
        }
    }
    for (source, english) in KNOWN_NAMES.iter() {
        if source.chars().count() >= ANYWHERE_CHARS && text.contains(source) {
            entries.entry(source.to_string()).or_insert(english.to_string());
        }
    }
    for name in byline_names(text) {
        if let Some(english) = person_in_pinyin(name) {
            entries.entry(name.to_string()).or_insert(english);
        }
    }
    for entry in user {
        entries.insert(entry.source.clone(), entry.target.clone());
    }
    entries.into_iter().map(|(source, target)| GlossaryEntry { source, target }).collect()
}

/// The entries (and number hints) that matter for one unit of text, longest source first.
pub fn relevant(glossary: &[GlossaryEntry], unit: &str) -> Vec<GlossaryEntry> {
    let mut found: Vec<GlossaryEntry> = glossary.iter().filter(|e| unit.contains(&e.source)).cloned().collect();
    found.extend(number_hints(unit));
    found.sort_by(|a, b| b.source.chars().count().cmp(&a.source.chars().count()).then(a.source.cmp(&b.source)));
    found.dedup_by(|a, b| a.source == b.source);
    found
}

/// The unit with each entry's English in brackets after its first occurrence:
/// 张迪鸣介绍说 → 张迪鸣（Zhang Diming）介绍说. Small models copy a rendering standing beside the
/// words far more reliably than they look one up in a list. `entries` come from [`relevant`],
/// longest first, so a longer source claims its words before a shorter one inside it.
pub fn annotate(unit: &str, entries: &[GlossaryEntry]) -> String {
    let mut claimed: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let digits = fold_width(unit);
    for entry in entries {
        // Number hints are found in the text with its digits normalised (２ → 2); both have the
        // same length in chars but not in bytes, so look in whichever holds the source.
        let (haystack, same) = if unit.contains(&entry.source) { (unit, true) } else { (digits.as_str(), false) };
        let Some(start) = haystack.find(&entry.source) else { continue };
        let range = if same {
            start..start + entry.source.len()
        } else {
            let first = haystack[..start].chars().count();
            let count = entry.source.chars().count();
            let byte = |n: usize| unit.char_indices().nth(n).map_or(unit.len(), |(i, _)| i);
            byte(first)..byte(first + count)
        };
        // 宝山 before 区 is 宝山区: annotate the whole place, not half of it.
        let suffix = PLACE_SUFFIXES.iter().find(|(zh, _)| unit[range.end..].starts_with(zh));
        let (range, target) = match suffix {
            Some((zh, english)) => (range.start..range.end + zh.len(), format!("{} {english}", entry.target)),
            None => (range, entry.target.clone()),
        };
        if claimed.iter().all(|(taken, _)| range.end <= taken.start || taken.end <= range.start) {
            claimed.push((range, target));
        }
    }
    claimed.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(unit.len() + 16 * claimed.len());
    let mut at = 0;
    for (range, target) in claimed {
        out.push_str(&unit[at..range.end]);
        out.push_str(&format!("（{target}）"));
        at = range.end;
    }
    out.push_str(&unit[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_pinyin_or_known_english() {
        assert_eq!(person_in_pinyin("陈杰").as_deref(), Some("Chen Jie"));
        assert_eq!(person_in_pinyin("唐奇云").as_deref(), Some("Tang Qiyun"));
        assert_eq!(person_in_pinyin("特朗普"), None, "foreign names are not pinyin");
        assert_eq!(place_in_english("宝山").as_deref(), Some("Baoshan"));
        assert_eq!(place_in_english("宝山区").as_deref(), Some("Baoshan District"));
        assert_eq!(place_in_english("中国").as_deref(), Some("China"));
    }

    #[test]
    fn numbers_and_dates_in_english() {
        let hints = number_hints("2月10日，首批扶持项目近6000万元，培训3.4万人次，投资1.5亿元。");
        let find = |s: &str| hints.iter().find(|h| h.source == s).map(|h| h.target.as_str());
        assert_eq!(find("2月10日"), Some("February 10"));
        assert_eq!(find("6000万元"), Some("60 million yuan"));
        assert_eq!(find("3.4万人次"), Some("34,000 person-times"));
        assert_eq!(find("1.5亿元"), Some("150 million yuan"));
        assert_eq!(number_hints("2023年10月23日")[0].target, "October 23, 2023");
        assert_eq!(number_hints("２月１０日")[0].target, "February 10", "full-width digits");
        assert!(number_hints("13月10日，2月32日").is_empty(), "no month 13, no day 32");
    }

    #[test]
    fn annotations_follow_the_words_they_render() {
        let glossary = article_glossary("宝山区委书记陈杰表示，宝山将获得荣誉。", &[]);
        let unit = "陈杰说，2月10日宝山区投资6000万元。";
        assert_eq!(
            annotate(unit, &relevant(&glossary, unit)),
            "陈杰（Chen Jie）说，2月10日（February 10）宝山区（Baoshan District）投资6000万元（60 million yuan）。"
        );
        let wide = "２月１０日开工。";
        assert_eq!(annotate(wide, &relevant(&[], wide)), "２月１０日（February 10）开工。");
        assert_eq!(annotate("没有名字。", &[]), "没有名字。");
    }

    #[test]
    fn datelines_are_rendered_whole() {
        let cases = [
            (
                "新华社德黑兰12月11日电（记者高文成 王守宝）伊朗总统莱希说",
                "Xinhua News Agency, Tehran, December 11 (reporters Gao Wencheng and Wang Shoubao)",
                "伊朗总统莱希说",
            ),
            (
                "新华社北京５月２０日电（黄小希 周珊珊）记者２０日获悉",
                "Xinhua News Agency, Beijing, May 20 (Huang Xiaoxi and Zhou Shanshan)",
                "记者２０日获悉",
            ),
            ("新华社西宁12月11日电 记者从青海省获悉", "Xinhua News Agency, Xining, December 11", "记者从青海省获悉"),
            ("中新社萨拉热窝12月11日电（图）波黑", "China News Service, Sarajevo, December 11", "（图）波黑"),
        ];
        for (unit, english, rest) in cases {
            let (found, end) = dateline(unit).unwrap_or_else(|| panic!("{unit}"));
            assert_eq!((found.as_str(), &unit[end..]), (english, rest));
        }
        // An unknown agency, a place with no safe English, no dateline at the start, a wrong date.
        for unit in [
            "本报北京12月11日电 记者",
            "新华社记者12月11日电",
            "新华社萨拉热沃12月11日电",
            "他说新华社北京12月11日电",
            "新华社北京13月11日电",
        ] {
            assert_eq!(dateline(unit), None, "{unit}");
        }
    }

    #[test]
    fn fixed_names_bylines_and_papers() {
        let text = "新华社德黑兰12月11日电（记者高文成 王守宝）伊朗总统莱希说，粤港澳大湾区发展迅速。湖南日报12月10日讯（全媒体记者 张尚武 胡盼盼 通讯员 刘晓玲）朝鲜族群众增加纳税。";
        let found = article_glossary(text, &[]);
        let find = |s: &str| found.iter().find(|e| e.source == s).map(|e| e.target.as_str());
        assert_eq!(find("新华社"), Some("Xinhua News Agency"));
        assert_eq!(find("德黑兰"), Some("Tehran"));
        assert_eq!(find("伊朗"), Some("Iran"));
        assert_eq!(find("粤港澳大湾区"), Some("Guangdong-Hong Kong-Macao Greater Bay Area"), "long names match inside words");
        assert_eq!(find("湖南日报"), Some("Hunan Daily"));
        for (name, pinyin) in [
            ("高文成", "Gao Wencheng"),
            ("王守宝", "Wang Shoubao"),
            ("张尚武", "Zhang Shangwu"),
            ("胡盼盼", "Hu Panpan"),
            ("刘晓玲", "Liu Xiaoling"),
        ] {
            assert_eq!(find(name), Some(pinyin), "byline name {name}");
        }
        assert_eq!(find("朝鲜"), None, "朝鲜族 is an ethnic group, not North Korea");
        assert_eq!(find("加纳"), None, "增加纳税 holds no Ghana");
        let dateline = article_glossary("新华社北京５月２０日电（黄小希 周珊珊）记者获悉。", &[]);
        assert!(dateline.iter().any(|e| e.source == "周珊珊" && e.target == "Zhou Shanshan"));
        let leader = article_glossary("习近平总书记强调，要坚定不移推进改革。", &[]);
        assert!(leader.iter().any(|e| e.source == "习近平" && e.target == "Xi Jinping"), "{leader:?}");
    }

    #[test]
    fn user_glossary_wins_and_loads_from_tsv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.tsv");
        std::fs::write(&path, "# names\n陈杰\tChen Jie (vice mayor)\n\n宝山\tBaoshan\n").unwrap();
        let user = load_user_glossary(&path).unwrap();
        let glossary = article_glossary("上海市副市长陈杰在宝山考察。", &user);
        assert!(glossary.iter().any(|e| e.source == "陈杰" && e.target == "Chen Jie (vice mayor)"));
        let found = article_glossary("宝山区委书记陈杰表示，宝山将获得荣誉。吴淞口在宝山。", &[]);
        let find = |s: &str| found.iter().find(|e| e.source == s).map(|e| e.target.as_str());
        assert_eq!(find("陈杰"), Some("Chen Jie"));
        assert_eq!(find("宝山"), Some("Baoshan"));
        assert_eq!(find("荣誉"), None, "an ordinary word is no name");
        std::fs::write(&path, "no tab here\n").unwrap();
        assert!(load_user_glossary(&path).unwrap_err().to_string().contains(":1:"));
    }
}

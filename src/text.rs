//! Text helpers every stage uses: which characters are Han, full-width folding, hex, and the
//! news dateline (新华社北京10月23日电（记者…）) that both the input stage and translation read.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

/// True for CJK unified ideographs (the Han script), including extensions.
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}' | '\u{30000}'..='\u{3134F}')
}

/// True for CJK punctuation, full-width forms and curly quotes.
pub fn is_cjk_punct(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FFEF}' | '\u{2018}'..='\u{201D}')
}

/// The number of Han characters in `text`.
pub fn han_count(text: &str) -> usize {
    text.chars().filter(|&c| is_han(c)).count()
}

/// Full-width digits, Latin letters, `％` and `．` → ASCII, so `２０２３` and `2023` compare equal.
/// Every other character (full-width commas included, which separate numbers) is kept. Each
/// character stays one character, so character offsets are the same before and after.
pub fn fold_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '％' | '．' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// Common Chinese surnames, in simplified and traditional characters.
const SURNAMES: &str = concat!(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦",
    "付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关",
    "兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车",
    "项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝习",
    "萧闻蔺阚禹鄢钮訾赖邸褚滑蔚濮劉陳楊黃趙吳孫馬鄭謝許韓馮鄧葉蘇呂盧鍾譚陸錢龔韋鄒賈魯聶嚴龍賀顧鄔閆蕭羅湯溫莊齊喬龐顏賴蔣藍駱饒",
);

/// Whether `first` is the first character of a common Chinese surname. A name starting with one
/// is read as a Chinese person's (and rendered in pinyin); transliterated foreign names (特朗普)
/// start with none.
pub fn starts_with_surname(first: char) -> bool {
    SURNAMES.contains(first)
}

/// A Chinese personal name as bylines write them: two to four Han characters, the first a
/// common surname.
pub fn looks_like_chinese_name(word: &str) -> bool {
    (2..=4).contains(&word.chars().count()) && word.chars().all(is_han) && word.chars().next().is_some_and(starts_with_surname)
}

/// Lowercase hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A news dateline opening a paragraph: `新华社北京10月23日电（记者张三）`, `本报讯（记者王五）`,
/// `央广网上海10月23日消息(记者…)`, in simplified or traditional characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dateline<'a> {
    /// What comes before the date: the agency or paper and the place (`新华社北京`); may be empty.
    pub head: &'a str,
    /// Month and day as written (digits, ASCII or full-width), when the dateline has a date.
    pub date: Option<(&'a str, &'a str)>,
    /// `电`, `讯` or `消息` (or their traditional forms).
    pub kind: &'a str,
    /// The bracketed credit after it (`记者张三`), without the brackets.
    pub credit: Option<&'a str>,
    /// Bytes of the paragraph the dateline covers, spaces after it included.
    pub end: usize,
}

impl<'a> Dateline<'a> {
    /// Parses the dateline opening `paragraph`, if it has one. A dated one is looked for first,
    /// so that the 电 of a word (新华社电视台…电) is not taken for the dateline's.
    pub fn parse(paragraph: &'a str) -> Option<Dateline<'a>> {
        const HEAD: &str = r"^\s*(?P<head>[\p{Han}A-Za-z]{0,24}?)\s*";
        const KIND_AND_CREDIT: &str = r"(?P<kind>电|電|讯|訊|消息)\s*(?:[（(](?P<credit>[^（）()]{1,40})[）)]\s*)?";
        static DATED: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(&format!("{HEAD}(?P<month>[0-9０-９]{{1,2}})月(?P<day>[0-9０-９]{{1,2}})日{KIND_AND_CREDIT}"))
                .expect("valid pattern")
        });
        static UNDATED: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("{HEAD}{KIND_AND_CREDIT}")).expect("valid pattern"));
        let caps = DATED.captures(paragraph).or_else(|| UNDATED.captures(paragraph))?;
        let date = caps.name("month").zip(caps.name("day")).map(|(m, d)| (m.as_str(), d.as_str()));
        Some(Dateline {
            head: caps.name("head").map_or("", |m| m.as_str()),
            date,
            kind: caps.name("kind").map_or("", |m| m.as_str()),
            credit: caps.name("credit").map(|m| m.as_str()),
            end: caps.get(0).map_or(0, |m| m.end()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn han_and_punctuation() {
        assert!(is_han('宝') && is_han('寶') && !is_han('a') && !is_han('。'));
        assert!(is_cjk_punct('。') && is_cjk_punct('，') && is_cjk_punct('“') && !is_cjk_punct(','));
        assert_eq!(han_count("宝山 is 上海的"), 5);
    }

    #[test]
    fn folds_full_width_digits_and_letters_only() {
        assert_eq!(fold_width("２０２３年ＶＲ，增长２３．５％"), "2023年VR，增长23.5%");
        assert_eq!(fold_width("３，４"), "3，4", "a full-width comma still separates");
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }

    #[test]
    fn datelines_with_and_without_dates_and_credits() {
        let line = Dateline::parse("新华社北京10月23日电（记者张三 李四）国务院今日召开会议。").unwrap();
        assert_eq!((line.head, line.date, line.kind, line.credit), ("新华社北京", Some(("10", "23")), "电", Some("记者张三 李四")));
        assert_eq!(&"新华社北京10月23日电（记者张三 李四）国务院今日召开会议。"[line.end..], "国务院今日召开会议。");
        let line = Dateline::parse("本报讯（记者王五）本市今天下雪。").unwrap();
        assert_eq!((line.head, line.date, line.credit), ("本报", None, Some("记者王五")));
        let line = Dateline::parse("新华社西宁１２月１１日电 记者从青海省获悉").unwrap();
        assert_eq!((line.date, line.credit), (Some(("１２", "１１")), None));
        assert_eq!(Dateline::parse("央廣網上海10月23日消息(記者唐奇雲)今天。").unwrap().credit, Some("記者唐奇雲"));
        assert!(Dateline::parse("今天天气很好，适合出行。").is_none());
        let line = Dateline::parse("新华社电视台5月20日电（记者张三）").unwrap();
        assert_eq!((line.head, line.date), ("新华社电视台", Some(("5", "20"))), "the dated reading wins");
    }
}

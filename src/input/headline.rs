//! Headlines as pages give them, cleaned: the site, channel and section names outlets join to a
//! headline (`…_科技_腾讯网`, `… - 滚动新闻 - 湖南日报网 - 华声在线`, `NEWS GOV-MO: …`) removed by
//! general rules, never by a list of outlets; captions and photo credits refused.

use std::sync::LazyLock;

use regex::Regex;

use crate::text::han_count;

/// Separators outlets put between a headline and the names after it. A dash or bar inside a
/// name (`COVID-19`, `中国－拉美`) is one too, but only a site or channel name after it is cut.
const SEPARATORS: &[&str] = &[" :: ", "::", " - ", " – ", " — ", " | ", " ｜ ", " @ ", "--", "-", "－", "_", "|", "｜", "·"];

/// Whether a segment after a separator names a site, channel or column rather than continuing
/// the headline: it ends with a word outlets name themselves with (某某网, 滚动新闻, 教育频道,
/// 某省日报, 某某在线), holds a domain, is a name the page declares for its site, or is a brand
/// in Latin capitals with little else.
pub fn names_a_site(segment: &str, site_names: &[String]) -> bool {
    static SITE_WORD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"(?:网|網|新闻|新聞|频道|頻道|在线|在線|日报|日報|晚报|晚報|早报|早報|时报|時報|商报|商報|客户端|客戶端|网站|網站|",
            r"门户|門戶|资讯|資訊|首页|首頁|电视台|電視台|广播|廣播|论坛|論壇|博客|官网)$|",
            r"(?i:www\.|\.com|\.cn|\.net|\.org|\.gov)"
        ))
        .expect("the site pattern is valid")
    });
    static CAPITALS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[A-Z]{3,}\b").expect("the capitals pattern is valid"));
    let segment = segment.trim();
    if segment.is_empty() || segment.chars().count() > 24 || segment.contains(['，', '。', '！', '？', ',', '!', '?']) {
        return false;
    }
    SITE_WORD.is_match(segment)
        || site_names.iter().any(|name| {
            name.chars().count() >= 2 && segment.chars().count() >= 2 && (segment.contains(name.as_str()) || name.contains(segment))
        })
        || CAPITALS.is_match(segment) && han_count(segment) <= 4
}

/// Splits `title` at every separator: the segments, and the byte where each one ends.
fn segments(title: &str) -> Vec<(usize, usize)> {
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < title.len() {
        let found = SEPARATORS.iter().find(|sep| title[at..].starts_with(**sep));
        match found {
            Some(sep) => {
                cuts.push((at, at + sep.len()));
                at += sep.len();
            }
            None => at += title[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    for (from, to) in cuts {
        pieces.push((start, from));
        start = to;
    }
    pieces.push((start, title.len()));
    pieces
}

/// Trims spaces and separators left dangling at either end.
fn trim_separators(text: &str) -> &str {
    let mut text = text.trim();
    loop {
        let before = text;
        for sep in SEPARATORS {
            text = text.trim_start_matches(sep.trim()).trim_start().trim_end_matches(sep.trim()).trim_end();
        }
        if text == before {
            return text;
        }
    }
}

/// A line that credits or captions a picture (图源, 图片来源, 摄影, 视觉中国…): never a headline.
pub fn is_credit(line: &str) -> bool {
    static CREDIT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"图源|圖源|图片来源|圖片來源|图片由|圖片由|供图|供圖|摄影|攝影|视觉中国|視覺中國|资料图|資料圖|图为|圖為|图/|圖/")
            .expect("the credit pattern is valid")
    });
    CREDIT.is_match(line)
}

/// The headline in `raw` (a `<title>`, an og:title, an `<h1>` or a pasted first line): a prefix
/// of several words in Latin capitals with a colon (`NEWS GOV-MO: `) removed (one word is a
/// speaker, as in `IMF：…`, and stays); trailing segments naming a site
/// removed, and then, since the title is then known to carry a suffix, the channel and section
/// names between the headline (the longest of the remaining segments) and the site; no
/// dangling separators. `site_names` are what the page calls its site (og:site_name). `None`
/// for a caption or credit, or when nothing is left.
pub fn clean_headline(raw: &str, site_names: &[String]) -> Option<String> {
    static LATIN_PREFIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9]*(?:[ \-.][A-Z0-9]+)+\s*[:：]\s*").expect("the prefix pattern is valid"));
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if is_credit(&title) {
        return None;
    }
    let title = match LATIN_PREFIX.find(&title) {
        Some(prefix) if han_count(&title[prefix.end()..]) >= 4 => &title[prefix.end()..],
        _ => title.as_str(),
    };
    let title = trim_separators(title);
    let mut pieces = segments(title);
    let mut cut = false;
    while pieces.len() > 1 && names_a_site(&title[pieces[pieces.len() - 1].0..pieces[pieces.len() - 1].1], site_names) {
        pieces.pop();
        cut = true;
    }
    let end = if cut {
        // The headline ends with its longest segment: what follows it up to the site is a channel.
        let longest = pieces.iter().enumerate().max_by_key(|(i, (start, end))| (title[*start..*end].chars().count(), usize::MAX - i));
        longest.map_or(title.len(), |(_, (_, end))| *end)
    } else {
        title.len()
    };
    let headline = trim_separators(&title[..end]);
    (!headline.is_empty()).then(|| headline.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> String {
        clean_headline(raw, &[]).unwrap_or_default()
    }

    #[test]
    fn site_and_channel_suffixes_go() {
        assert_eq!(clean("市区两级联动推进老旧小区改造_社会_某某网"), "市区两级联动推进老旧小区改造");
        assert_eq!(clean("暴雨致多地停课 - 滚动新闻 - 某省日报网 - 某某在线"), "暴雨致多地停课");
        assert_eq!(clean("央行宣布降准 - 某某经济观察网 － 专业财经新闻网站"), "央行宣布降准");
        assert_eq!(clean("博物馆夜场开放-某某网"), "博物馆夜场开放");
        assert_eq!(clean("新能源车销量创新高 | 某某财经 | example.com"), "新能源车销量创新高");
        assert_eq!(clean("山区学校迎来新老师--教育--某某网 "), "山区学校迎来新老师");
        assert_eq!(clean("河道整治完工 _探索者 _某某日报"), "河道整治完工");
    }

    #[test]
    fn latin_prefixes_go() {
        assert_eq!(clean("NEWS GOV-MO: 特区政府推出消费补贴计划"), "特区政府推出消费补贴计划");
        assert_eq!(clean("IMF：全球贸易增速放缓"), "IMF：全球贸易增速放缓", "a speaker is part of the headline");
    }

    #[test]
    fn what_belongs_to_the_headline_stays() {
        assert_eq!(clean("专访：城市更新的下一步"), "专访：城市更新的下一步");
        assert_eq!(clean("走进乡村——记一位扎根山区的教师"), "走进乡村——记一位扎根山区的教师");
        assert_eq!(clean("COVID-19疫苗接种率再创新高"), "COVID-19疫苗接种率再创新高");
        assert_eq!(clean("首届中国－东盟论坛开幕--时政--某某网"), "首届中国－东盟论坛开幕");
        assert_eq!(clean("南京-上海高铁提速"), "南京-上海高铁提速", "no site named: the dash stays");
        assert_eq!(clean("网络安全周开幕 - 某某网"), "网络安全周开幕", "a site word inside the headline is no site");
    }

    #[test]
    fn blog_titles_keep_their_underscores() {
        let names = vec!["某人的家_蓝天".to_string()];
        assert_eq!(
            clean_headline("新竹尖石_枫林营地赏枫 (2) @ 某人的家_蓝天 :: 某某邦 BLOGNET ::", &names).unwrap(),
            "新竹尖石_枫林营地赏枫 (2)"
        );
    }

    #[test]
    fn no_dangling_separators() {
        assert_eq!(clean("  _ 港口吞吐量稳步增长 _  "), "港口吞吐量稳步增长");
        assert_eq!(clean("港口吞吐量稳步增长 - "), "港口吞吐量稳步增长");
    }

    #[test]
    fn captions_and_credits_are_not_headlines() {
        assert_eq!(clean_headline("游客在湖边赏花。图源：某某日报", &[]), None);
        assert_eq!(clean_headline("（视觉中国）", &[]), None);
        assert!(is_credit("摄影：张三") && !is_credit("港口吞吐量稳步增长"));
    }
}

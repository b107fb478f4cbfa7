//! Page text → [`Article`]: drops web chrome, lifts title/date/source/author into [`Meta`].
//!
//! Hand-written on purpose: readability extractors work on HTML structure, but much of what users feed
//! us is text copied out of a page, where the structure is gone and only the *patterns* of Chinese news
//! pages remain (返回首页 lines, a date·来源·点击 line, 上一篇/下一篇 links, 推广信息 blocks, a lead
//! repeated at the end). Every rule here is a pattern of such pages, never a string of one article.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::input::headline::{clean_headline, is_credit, names_a_site};
use crate::text::{Dateline, han_count, is_han, looks_like_chinese_name};
use crate::types::{Article, Meta};

/// Cleans page text into an article; `hints` (from HTML metadata) take precedence over what the text
/// says. Returns `None` when nothing of an article is left.
pub fn clean(text: &str, hints: Meta) -> Option<Article> {
    let mut meta = hints;
    let mut found = Meta::default();
    let mut title_candidates: Vec<String> = Vec::new();
    let mut body: Vec<String> = Vec::new();
    let mut in_promo_block = false;
    let known_title = meta.title.as_deref().map(content_key);
    // Pages whose markup names the headline need no guess from the text; short lines before
    // their body are still no story (share buttons, a site name, a section label).
    let guess_title = meta.title.is_none();

    for raw_line in text.lines() {
        let line = normalize_line(raw_line);
        if line.is_empty() || is_separator(&line) || is_prev_next(&line) || is_navigation(&line) {
            continue;
        }
        if let Some(line_meta) = parse_meta_line(&line) {
            found.fill_from(line_meta);
            continue;
        }
        if is_promo_heading(&line) {
            in_promo_block = true;
            continue;
        }
        if in_promo_block {
            if !looks_like_body(&line) {
                continue;
            }
            in_promo_block = false;
        }
        if known_title.as_deref() == Some(content_key(&line).as_str()) {
            continue;
        }
        // A photo credit or caption before the story is neither headline nor story.
        if body.is_empty() && is_credit(&line) && han_count(&line) < MIN_CAPTION_HAN {
            continue;
        }
        if is_original_title(&line) {
            continue;
        }
        if body.is_empty() && is_title_like(&line) {
            if title_candidates.len() < MAX_TITLE_LINES {
                title_candidates.push(line);
                continue;
            }
            // Line after line without a full stop: a text whose sentences have none (a blog, a
            // forum post, verse). Its first line is its title unless the markup named one; the
            // rest is its body.
            body.extend(title_candidates.drain(usize::from(guess_title)..));
        }
        let (paragraph, trailer) = strip_trailer(&line);
        found.fill_from(trailer);
        if !paragraph.is_empty() {
            body.push(paragraph);
        }
    }

    if let Some(first) = body.first_mut()
        && let Some((rest, dateline)) = strip_dateline(first)
    {
        *first = rest;
        found.fill_from(dateline);
    }
    body.retain(|p| !p.is_empty());
    let body = drop_repeated(body);
    if body.iter().map(|p| p.chars().filter(|&c| is_han(c)).count()).sum::<usize>() < MIN_ARTICLE_HAN {
        return None;
    }
    // Of the short lines before the body, the headline is the longest once site names are cut;
    // the others are site names, section labels and the like.
    found.title = title_candidates.iter().filter_map(|t| clean_headline(t, &[])).rev().max_by_key(|t| t.chars().count());
    meta.fill_from(found);
    Some(Article::from_paragraphs(meta, &body))
}

/// Fewer Han characters than this in the whole body is not an article (a lone headline, page chrome).
const MIN_ARTICLE_HAN: usize = 8;
/// Short lines before the body that may hold the headline (site name, section, headline).
const MAX_TITLE_LINES: usize = 3;
/// A credit line shorter than this is a caption or photo credit, not story text.
const MIN_CAPTION_HAN: usize = 30;

/// Simplified characters used in the patterns above, each with its traditional form.
const TRADITIONAL: &[(char, char)] = &[
    ('来', '來'),
    ('页', '頁'),
    ('顶', '頂'),
    ('关', '關'),
    ('闭', '閉'),
    ('扫', '掃'),
    ('维', '維'),
    ('码', '碼'),
    ('机', '機'),
    ('载', '載'),
    ('录', '錄'),
    ('册', '冊'),
    ('评', '評'),
    ('论', '論'),
    ('纠', '糾'),
    ('错', '錯'),
    ('举', '舉'),
    ('报', '報'),
    ('号', '號'),
    ('体', '體'),
    ('认', '認'),
    ('权', '權'),
    ('简', '簡'),
    ('条', '條'),
    ('则', '則'),
    ('后', '後'),
    ('广', '廣'),
    ('热', '熱'),
    ('门', '門'),
    ('荐', '薦'),
    ('闻', '聞'),
    ('点', '點'),
    ('阅', '閱'),
    ('链', '鏈'),
    ('读', '讀'),
    ('欢', '歡'),
    ('为', '為'),
    ('编', '編'),
    ('辑', '輯'),
    ('资', '資'),
    ('讯', '訊'),
    ('图', '圖'),
    ('专', '專'),
    ('题', '題'),
    ('网', '網'),
    ('处', '處'),
    ('记', '記'),
    ('责', '責'),
    ('审', '審'),
    ('对', '對'),
    ('摄', '攝'),
    ('员', '員'),
    ('击', '擊'),
    ('览', '覽'),
    ('访', '訪'),
    ('气', '氣'),
    ('数', '數'),
    ('发', '發'),
    ('时', '時'),
    ('间', '間'),
    ('电', '電'),
    ('视', '視'),
    ('台', '臺'),
    ('户', '戶'),
    ('终', '終'),
    ('线', '線'),
    ('当', '當'),
    ('现', '現'),
    ('设', '設'),
    ('实', '實'),
    ('习', '習'),
    ('选', '選'),
    ('注', '註'),
    ('写', '寫'),
    ('级', '級'),
    ('准', '準'),
    ('该', '該'),
    ('态', '態'),
    ('总', '總'),
    ('务', '務'),
    ('园', '園'),
    ('导', '導'),
    ('频', '頻'),
    ('详', '詳'),
    ('细', '細'),
    ('输', '輸'),
    ('账', '賬'),
    ('华', '華'),
];

/// Makes a pattern written in simplified characters match traditional text too (Big5 pages from
/// Taiwan and Hong Kong): each simplified character becomes a class with its traditional form.
fn hant(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut in_class = false;
    let mut escaped = false;
    for c in pattern.chars() {
        let variant = TRADITIONAL.iter().find(|(simplified, _)| *simplified == c).map(|&(_, t)| t);
        match (variant, in_class) {
            (Some(t), true) => {
                out.push(c);
                out.push(t);
            }
            (Some(t), false) => out.extend(['[', c, t, ']']),
            (None, _) => out.push(c),
        }
        if !escaped {
            match c {
                '[' => in_class = true,
                ']' => in_class = false,
                _ => {}
            }
        }
        escaped = c == '\\' && !escaped;
    }
    out
}

/// Maps the traditional characters of [`TRADITIONAL`] back to simplified ones.
fn simplified(text: &str) -> String {
    text.chars().map(|c| TRADITIONAL.iter().find(|&&(_, t)| t == c).map_or(c, |&(s, _)| s)).collect()
}

/// Trims a line and folds the spaces web pages are full of (NBSP, ideographic space, zero-width).
fn normalize_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut pending_space = false;
    for c in line.chars() {
        match c {
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
            c if c.is_whitespace() => pending_space = true,
            c if c.is_control() => {}
            c => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(c);
            }
        }
    }
    out
}

/// Han characters and alphanumerics only: what two copies of a paragraph share despite punctuation,
/// spacing or full-/half-width differences.
fn content_key(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// A line of dashes, stars, dots… possibly labelled 分隔线.
fn is_separator(line: &str) -> bool {
    static LABEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(&hant("分[隔割]线")).unwrap());
    let rest = LABEL.replace_all(line, "");
    rest.chars().all(|c| !c.is_alphanumeric()) && rest.chars().count() >= 3 || rest.trim().is_empty()
}

/// 上一篇：… / 下一篇：… (and their 条/页 variants), alone or side by side on one line.
fn is_prev_next(line: &str) -> bool {
    static PREV_NEXT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&hant(r"(^|\s)[【\[]?(上一|下一|前一|后一)(篇|条|页|则)[】\]]?\s*([:：]|$)")).unwrap());
    PREV_NEXT.is_match(line)
}

/// A short line made only of navigation, sharing and page-tool words, or a breadcrumb trail.
fn is_navigation(line: &str) -> bool {
    let crumbs: Vec<&str> = line.split(['>', '»', '›', '＞']).collect();
    if crumbs.len() >= 3 && crumbs.iter().all(|crumb| crumb.trim().chars().count() <= 12) {
        return true;
    }
    static NAV: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&hant(concat!(
            r"返回首页|返回顶部|返回列表|返回目录|返回|设为首页|加入收藏|收藏本页|收藏|首页|主页|",
            r"当前位置|您的位置|您现在的位置|所在位置|位置|正文|打印本页|打印|关闭窗口|关闭|",
            r"分享到|分享至|分享|扫一扫|扫码|二维码|手机看|手机版|客户端|下载|登录|注册|",
            r"我要评论|发表评论|网友评论|评论|纠错|举报|字号|字体|[大中小]\s*[中小]\s*小?|默认|",
            r"微信|微博|朋友圈|QQ空间|English|繁體|繁体|简体|版权所有|Copyright|ICP备\S*|\d+"
        )))
        .unwrap()
    });
    if line.chars().count() > 40 || !NAV.is_match(line) {
        return false;
    }
    han_count(&NAV.replace_all(line, "")) < 2
}

/// 推广信息, 热门文章, 相关新闻…: a heading that opens a block of links, not story.
fn is_promo_heading(line: &str) -> bool {
    static PROMO: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&hant(concat!(
            r"^[【\[]?(推广信息|推广|广告|热门文章|热门推荐|热门新闻|热门排行|热点推荐|热点新闻|热门|",
            r"相关文章|相关新闻|相关阅读|相关链接|相关报道|相关推荐|相关|推荐阅读|延伸阅读|精彩推荐|",
            r"精彩阅读|猜你喜欢|为您推荐|编辑推荐|今日推荐|最新文章|最新新闻|最新资讯|最新|排行榜|",
            r"点击排行|阅读排行|图片新闻|专题推荐|友情链接|更多新闻|更多阅读|网友评论|热门评论)",
            r"[】\]]?\s*[:：]?\s*(更多\s*[>»›]*)?$"
        )))
        .unwrap()
    });
    PROMO.is_match(line)
}

/// A line that reads as story text: long, with clause punctuation.
fn looks_like_body(line: &str) -> bool {
    han_count(line) >= 30 && line.contains(['，', '。', ',', '；'])
}

/// `（原标题：…）`: the headline the story first ran under, neither headline nor story.
fn is_original_title(line: &str) -> bool {
    let inner = line.trim_start_matches(['（', '(', '【', '[']);
    simplified(inner).starts_with("原标题")
}

/// A headline candidate: short, mostly Han, not ending like a sentence or clause. Long enough for a
/// headline with its site suffix still on (`… - 滚动新闻 - 某省日报网 - 某某在线`).
fn is_title_like(line: &str) -> bool {
    let chars = line.chars().count();
    (5..=96).contains(&chars) && han_count(line) >= 4 && !line.contains('。') && !line.ends_with(['，', '；', '：', ',', ';', ':'])
}

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&hant(concat!(
        r"(?P<y>(?:19|20)\d{2})\s*[-年/.]\s*(?P<m>\d{1,2})\s*[-月/.]\s*(?P<d>\d{1,2})\s*日?",
        r"(?:[\sT]*(?P<hh>\d{1,2})\s*[:：时]\s*(?P<mm>\d{2})(?:\s*[:：分]\s*\d{2}\s*秒?)?)?"
    )))
    .unwrap()
});

/// Normalises the first date (and time) in `text` to `YYYY-MM-DD[ HH:MM]`.
pub fn parse_date(text: &str) -> Option<String> {
    DATE.captures_iter(text).find_map(|caps| {
        let number = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
        let (year, month, day) = (number("y")?, number("m")?, number("d")?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let mut date = format!("{year:04}-{month:02}-{day:02}");
        if let (Some(hour), Some(minute)) = (number("hh"), number("mm"))
            && hour < 24
            && minute < 60
        {
            date.push_str(&format!(" {hour:02}:{minute:02}"));
        }
        Some(date)
    })
}

/// Job titles that precede names in bylines (本报记者 张三, 实习记者、樊亮) and are never part of one.
const ROLES: &[&str] = &[
    "特约评论员",
    "全媒体记者",
    "融媒体记者",
    "新华社记者",
    "中新社记者",
    "本报记者",
    "本台记者",
    "实习记者",
    "见习记者",
    "特约记者",
    "首席记者",
    "责任编辑",
    "评论员",
    "通讯员",
    "实习生",
    "撰稿人",
    "记者",
    "编辑",
    "主编",
    "责编",
    "摄影",
    "撰稿",
    "作者",
];

/// One-character credits (文/张三, 图/李四), roles only as whole words: 文 and 图 also begin names.
const SHORT_ROLES: &[&str] = &["文", "图", "摄"];

/// Roles whose names are not the article's authors: correspondents and interns credited beside them.
const CONTRIBUTOR_ROLES: &[&str] = &["通讯员", "实习生"];

/// The personal names in a byline's value (`张三 李四`, `实习记者、樊亮、王五`, `John Smith`),
/// job titles and markup left out, names after 通讯员 or 实习生 too; and how many Han characters
/// of the value were neither names nor titles (a line with many is prose, not a byline).
fn names_in(value: &str) -> (Vec<String>, usize) {
    static LATIN_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z.'-]*(?: [A-Za-z][A-Za-z.'-]*){0,3}$").unwrap());
    let mut names: Vec<String> = Vec::new();
    let mut leftover = 0;
    let mut contributors = false;
    let latin = value
        .split(['、', '，', ',', ';', '；', '/', '|', '｜'])
        .map(str::trim)
        .filter(|part| LATIN_NAME.is_match(part) && part.contains(' '));
    let latin: Vec<&str> = latin.collect();
    if !latin.is_empty() && han_count(value) == 0 {
        return (latin.into_iter().map(str::to_string).collect(), 0);
    }
    for token in value.split(|c: char| c.is_whitespace() || "、，,;；/|｜·".contains(c)).filter(|t| !t.is_empty()) {
        let mut rest = token.trim_matches(|c: char| "()（）[]【】<>《》\"'“”:：".contains(c));
        if SHORT_ROLES.contains(&simplified(rest).as_str()) {
            continue;
        }
        while let Some(role) = ROLES.iter().find(|role| simplified(rest).starts_with(**role)) {
            contributors = CONTRIBUTOR_ROLES.contains(role);
            rest = rest[role.len()..].trim_start_matches([':', '：']);
        }
        if rest.is_empty() {
            continue;
        }
        if looks_like_chinese_name(rest) || LATIN_NAME.is_match(rest) && rest.chars().count() <= 30 {
            if !contributors && !names.iter().any(|n| n == rest) {
                names.push(rest.to_string());
            }
        } else {
            leftover += han_count(rest);
        }
    }
    (names, leftover)
}

/// The names in an author field of page metadata, `、`-separated; `None` when it holds none (a
/// user id, a blog's name, markup).
pub(crate) fn plausible_names(value: &str) -> Option<String> {
    let (names, leftover) = names_in(value);
    (!names.is_empty() && leftover == 0).then(|| names.join("、"))
}

/// Recognises a metadata line (date, 来源, 作者/记者, 编辑, click counters, 发表于…) and parses it.
/// A line qualifies only when almost nothing but such fields is on it, so story text that happens
/// to start with a date, or to mention a reporter, is left alone.
pub(crate) fn parse_meta_line(line: &str) -> Option<Meta> {
    // A label and its colon, or a reporter's title and a space before the names (本报记者 张三).
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&hant(concat!(
            r"(?P<label>图片来源|图源|信息来源|文章来源|稿件来源|新闻来源|来源|稿源|出处|作者|撰稿|撰文|责任编辑|责编|编辑|编审|审核|校对|摄影|通讯员|记者)\s*[:：]|",
            r"(?:^|\s)(?P<role>本报记者|本台记者|新华社记者|中新社记者|全媒体记者|实习记者|见习记者|特约记者|记者|特约评论员|评论员|文)\s+"
        )))
        .unwrap()
    });
    static NOISE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&hant(concat!(
            r"(?:点击|点选|浏览|阅读|访问|人气|热度)(?:量|数|次数)?\s*[:：]?\s*\d*\s*次?|\d+\s*(?:人|次)(?:阅读|浏览|参与)|",
            r"发布时间|发布日期|更新时间|发表时间|发表于|发布于|更新于|时间|日期|[:：|｜丨/]"
        )))
        .unwrap()
    });
    if line.chars().count() > 120 {
        return None;
    }
    let mut meta = Meta { date: parse_date(line), ..Meta::default() };
    let mut any_field = meta.date.is_some();
    let without_dates = DATE.replace_all(line, " ").into_owned();
    let labels: Vec<(usize, usize, String)> = LABEL
        .captures_iter(&without_dates)
        .map(|caps| {
            let whole = caps.get(0).expect("the match");
            let label = caps.name("label").or(caps.name("role")).expect("one of the two").as_str();
            (whole.start(), whole.end(), simplified(label))
        })
        .collect();
    let mut remainder = without_dates[..labels.first().map_or(without_dates.len(), |l| l.0)].to_string();
    let mut leftover = 0;
    for (i, (_, end, label)) in labels.iter().enumerate() {
        any_field = true;
        let value_end = labels.get(i + 1).map_or(without_dates.len(), |next| next.0);
        let value = &without_dates[*end..value_end];
        // A field's value ends at a bar, a bracket or a full stop; what follows is more line.
        let cut = value.find(['|', '｜', '丨', '【', '】', '[', ']', '(', ')', '（', '）', ';', '；', '。']).unwrap_or(value.len());
        remainder.push_str(&value[cut..]);
        let value = value[..cut].trim();
        match label.as_str() {
            "来源" | "稿源" | "出处" | "信息来源" | "文章来源" | "稿件来源" | "新闻来源" => {
                // 来源：新华社 记者 张三: the outlet is the first word; a reporter after it is an author.
                let mut words = value.split_whitespace();
                let outlet = words.next().unwrap_or_default().trim_end_matches(['，', ',']);
                if ROLES.iter().any(|role| simplified(outlet).starts_with(role)) {
                    let (names, rest) = names_in(value);
                    leftover += rest;
                    if !names.is_empty() {
                        meta.author.get_or_insert(names.join("、"));
                    }
                } else if !outlet.is_empty() {
                    meta.source.get_or_insert(outlet.to_string());
                    remainder.push_str(&words.collect::<Vec<_>>().join(" "));
                }
            }
            "审核" | "校对" | "摄影" | "通讯员" | "图片来源" | "图源" => {}
            role => {
                let (names, rest) = names_in(value);
                leftover += rest;
                let slot =
                    if matches!(role, "责任编辑" | "责编" | "编辑" | "编审") { &mut meta.editor } else { &mut meta.author };
                if !names.is_empty() && slot.is_none() {
                    *slot = Some(names.join("、"));
                }
            }
        }
    }
    let had_noise = NOISE.is_match(&remainder);
    let remainder = NOISE.replace_all(&remainder, "");
    if !(any_field || had_noise && remainder.trim().is_empty()) {
        return None;
    }
    // The site or channel printing the line (新华网河北频道 2012-06-04 来源：…) is part of it.
    let unexplained: usize =
        remainder.split(|c: char| c.is_whitespace() || "()（）".contains(c)).filter(|word| !names_a_site(word, &[])).map(han_count).sum();
    (unexplained + leftover <= 2).then_some(meta)
}

/// Splits a story paragraph from page trailers glued to its end: （完）, （责任编辑：…）, 【纠错】…
fn strip_trailer(paragraph: &str) -> (String, Meta) {
    static TRAILER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&hant(concat!(
            r"(?:\s*[（(【\[](?:完|终|责任编辑|责编|编辑|来源|作者|记者|本报记者|评论员|特约评论员|通讯员)[^）)】\]]{0,30}[）)】\]]",
            r"|\s*【(?:纠错|打印|关闭|收藏)】)+\s*$"
        )))
        .unwrap()
    });
    match TRAILER.find(paragraph) {
        Some(found) if found.start() > 0 || found.end() == paragraph.len() => {
            let trailer = found.as_str();
            let meta = parse_meta_line(&trailer.replace(['（', '）', '(', ')', '【', '】', '[', ']'], " ")).unwrap_or_default();
            (paragraph[..found.start()].trim_end().to_string(), meta)
        }
        _ => (paragraph.to_string(), Meta::default()),
    }
}

/// Splits a news dateline — 新华社北京10月23日电（记者张三）, 央广网上海10月23日消息(记者…),
/// 本报讯（记者…） — off the first paragraph, keeping who wrote it. Only a dateline with a credit
/// in brackets counts: without one, 电 or 讯 in an ordinary opening sentence would be taken for one.
fn strip_dateline(paragraph: &str) -> Option<(String, Meta)> {
    /// An outlet's name ends like one (新华社, 央广网, 湖南日报…); the place after it is short.
    static OUTLET: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&hant(r"^[\p{Han}A-Za-z]{1,12}?(?:新闻网|网|社|日报|晚报|报|电视台|台|客户端)")).unwrap());
    let dateline = Dateline::parse(paragraph)?;
    let credit = dateline.credit?.trim();
    let outlet = OUTLET.find(dateline.head).map(|m| m.as_str());
    let place = &dateline.head[outlet.map_or(0, str::len)..];
    if place.chars().count() > 8 || !place.chars().all(is_han) {
        return None;
    }
    let author = credit
        .split(|c: char| c.is_whitespace() || c == '、' || c == '，')
        .filter(|part| {
            let role = simplified(part);
            !role.starts_with("通讯员") && !role.starts_with("实习生")
        })
        .map(|part| {
            let role = simplified(part);
            let is_titled = role.starts_with("记者") || role.starts_with("作者");
            if is_titled { part.char_indices().nth(2).map_or("", |(i, _)| &part[i..]) } else { part }
        })
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("、");
    let meta = Meta { author: (!author.is_empty()).then_some(author), source: outlet.map(str::to_string), ..Meta::default() };
    let rest = paragraph[dateline.end..].to_string();
    (han_count(&rest) > 0).then_some((rest, meta))
}

/// How many headlines a cleaned "article" lists when it is really a list page pasted as text: a
/// rolling-news list, an index, a footer of links. Most of its paragraphs are short items marked
/// as list entries — a timestamp (`12-01 10:23`, `[2023-12-01]`), a bullet (`·`, `•`), or several
/// `|`-separated links on one line — and they outweigh its prose. Short lines alone are not
/// enough: blogs and forum posts often end no line with a full stop.
pub fn list_items(article: &Article) -> Option<usize> {
    static STAMP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\d{1,2}[-/月]\d{1,2}日?\s*\d{1,2}[:：]\d{2}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/]\d{1,2}\]|^\s*[·•▪►◆■]").unwrap()
    });
    const MIN_ITEMS: usize = 8;
    let (mut items, mut item_chars, mut prose, mut total_chars) = (0, 0, 0, 0);
    for index in 0..article.paragraphs.len() {
        let paragraph = article.paragraph(index);
        let chars = paragraph.chars().count();
        total_chars += chars;
        let links_on_a_line = paragraph.matches(['|', '｜']).count() >= 2;
        let short = han_count(paragraph) <= 40;
        if short && (STAMP.is_match(paragraph) || links_on_a_line) {
            items += 1;
            item_chars += chars;
        } else if han_count(paragraph) >= 40 && paragraph.contains(['。', '！', '？']) {
            prose += 1;
        }
    }
    (items >= MIN_ITEMS && items >= 4 * prose && item_chars * 2 >= total_chars).then_some(items)
}

/// Drops paragraphs that repeat an earlier one, wholly or as a part of it (pages often repeat the
/// lead at the end). Containment checks are quadratic, so on very large inputs only exact repeats
/// are dropped.
fn drop_repeated(paragraphs: Vec<String>) -> Vec<String> {
    const CONTAINMENT_CHECK_LIMIT: usize = 1 << 20;
    const MIN_KEY_CHARS: usize = 8;
    let check_containment = paragraphs.iter().map(String::len).sum::<usize>() <= CONTAINMENT_CHECK_LIMIT;
    let mut seen_keys: HashSet<String> = HashSet::new();
    let mut kept_keys: Vec<String> = Vec::new();
    let mut kept = Vec::with_capacity(paragraphs.len());
    for paragraph in paragraphs {
        let key = content_key(&paragraph);
        let repeated = key.chars().count() >= MIN_KEY_CHARS
            && (seen_keys.contains(&key) || check_containment && kept_keys.iter().any(|earlier| earlier.contains(key.as_str())));
        if repeated {
            continue;
        }
        seen_keys.insert(key.clone());
        if check_containment {
            kept_keys.push(key);
        }
        kept.push(paragraph);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_chrome_lines() {
        assert!(is_navigation("返回首页"));
        assert!(is_navigation("首页 > 新闻 > 正文"));
        assert!(is_navigation("【字号 大 中 小】 打印 关闭"));
        assert!(!is_navigation("上海宝山全力打造转型样本"));
        assert!(is_prev_next("上一篇:宁波地铁有新进展   下一篇:民众共度重阳佳节"));
        assert!(is_prev_next("下一篇：某某新闻"));
        assert!(!is_prev_next("他在上一篇文章中写道，转型很难。"));
        assert!(is_separator("------分隔线----------------------------"));
        assert!(is_separator("* * * * *"));
        assert!(!is_separator("2023"));
        assert!(is_promo_heading("推广信息"));
        assert!(is_promo_heading("【相关新闻】"));
        assert!(is_promo_heading("热门文章 更多>>"));
        assert!(!is_promo_heading("热门文章里写了什么"));
    }

    #[test]
    fn parses_meta_lines() {
        let meta = parse_meta_line("2023-10-24 14:09来源:互联网 点击:94次").unwrap();
        assert_eq!(meta.date.as_deref(), Some("2023-10-24 14:09"));
        assert_eq!(meta.source.as_deref(), Some("互联网"));
        let meta = parse_meta_line("发布时间：2020年07月04日 01:55  来源：央视新闻客户端  作者：张三").unwrap();
        assert_eq!(meta.date.as_deref(), Some("2020-07-04 01:55"));
        assert_eq!(meta.source.as_deref(), Some("央视新闻客户端"));
        assert_eq!(meta.author.as_deref(), Some("张三"));
        assert_eq!(parse_meta_line("责任编辑：李四").unwrap().editor.as_deref(), Some("李四"));
        assert!(parse_meta_line("阅读 1024").is_some());
        // Story text that starts with a date is not metadata.
        assert!(parse_meta_line("2023年10月23日，上海市副市长在新闻发布会上介绍了宝山的转型。").is_none());
    }

    #[test]
    fn normalises_dates() {
        assert_eq!(parse_date("2023/1/5").as_deref(), Some("2023-01-05"));
        assert_eq!(parse_date("2023年10月24日 14时09分").as_deref(), Some("2023-10-24 14:09"));
        assert_eq!(parse_date("2020-07-04T01:55:04+08:00").as_deref(), Some("2020-07-04 01:55"));
        assert_eq!(parse_date("2023-13-40"), None);
        assert_eq!(parse_date("编号 12345"), None);
    }

    #[test]
    fn splits_datelines_and_trailers() {
        let (rest, meta) = strip_dateline("新华社北京10月23日电（记者张三 李四）国务院今日召开会议。").unwrap();
        assert_eq!(rest, "国务院今日召开会议。");
        assert_eq!(meta.author.as_deref(), Some("张三、李四"));
        assert_eq!(meta.source.as_deref(), Some("新华社"));
        let (rest, meta) = strip_dateline("本报讯（记者王五）本市今天下雪。").unwrap();
        assert_eq!((rest.as_str(), meta.author.as_deref()), ("本市今天下雪。", Some("王五")));
        assert!(strip_dateline("今天下雪（图）。").is_none());
        let (_, meta) = strip_dateline("央廣網上海10月23日消息(記者唐奇雲 通訊員李四)今天。").unwrap();
        assert_eq!(meta.author.as_deref(), Some("唐奇雲"));

        let (text, meta) = strip_trailer("会议在北京举行。（完）（责任编辑：赵六）");
        assert_eq!((text.as_str(), meta.editor.as_deref()), ("会议在北京举行。", Some("赵六")));
    }

    #[test]
    fn drops_repeated_and_contained_paragraphs() {
        let kept = drop_repeated(vec![
            "第一段：宝山全力打造新时代现代化转型样本，成效明显。".into(),
            "第二段完全不同的内容在这里出现。".into(),
            "宝山全力打造新时代现代化转型样本,成效明显".into(),
            "第二段完全不同的内容在这里出现。".into(),
        ]);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn cleans_a_pasted_page() {
        let page = "返回首页\n\n某市推进城市更新行动取得新进展\n\n2024-03-01 09:30 来源：某某日报 点击：12次\n\n\
            \u{3000}\u{3000}本报讯（记者王五）某市今年启动城市更新项目二十个，总投资超过百亿元。\n\
            \u{3000}\u{3000}市住建局表示，将加快推进老旧小区改造，惠及居民三万户。\n\
            某市今年启动城市更新项目二十个，总投资超过百亿元。\n\
            上一篇：另一条新闻   下一篇：又一条新闻\n------分隔线------\n推广信息\n热门文章\n某条热门链接标题\n";
        let article = clean(page, Meta::default()).unwrap();
        assert_eq!(article.meta.title.as_deref(), Some("某市推进城市更新行动取得新进展"));
        assert_eq!(article.meta.date.as_deref(), Some("2024-03-01 09:30"));
        assert_eq!(article.meta.source.as_deref(), Some("某某日报"));
        assert_eq!(article.meta.author.as_deref(), Some("王五"));
        assert_eq!(article.paragraphs.len(), 2);
        assert_eq!(article.paragraph(0), "某市今年启动城市更新项目二十个，总投资超过百亿元。");
    }

    #[test]
    fn rules_match_traditional_characters() {
        assert!(is_navigation("返回首頁"));
        assert!(is_promo_heading("熱門文章"));
        let meta = parse_meta_line("2023-10-24 14:09來源:互聯網 點擊:94次").unwrap();
        assert_eq!(meta.source.as_deref(), Some("互聯網"));
        assert_eq!(parse_meta_line("責任編輯：李四").unwrap().editor.as_deref(), Some("李四"));
        assert_eq!(hant("来源[来]"), "[来來]源[来來]");
    }

    #[test]
    fn chrome_only_is_no_article() {
        let page = "返回首页\n上一篇：甲   下一篇：乙\n------分隔线------\n推广信息\n热门文章\n";
        assert_eq!(clean(page, Meta::default()), None);
    }
}

//! The input stage on pages of kinds the development data does not hold, each built by hand for
//! one pattern outlets use: declared and undeclared legacy encodings, headlines with site names,
//! dates and bylines where pages print them, list pages, forum threads and blogs.

mod common;

use std::path::{Path, PathBuf};

use common::zhbrief;
use encoding_rs::GB18030;
use predicates::prelude::*;

/// Story paragraphs, long enough to be an article.
const STORY: &str = "某市今年启动城市更新项目二十个，总投资超过百亿元，惠及居民三万户，各项工作进展顺利，受到居民普遍欢迎。\n\
    市住建局负责人表示，将加快推进老旧小区改造，今年年底前完成全部项目的开工建设，确保按期交付使用。\n\
    据介绍，改造内容包括加装电梯、管网更新和公共空间提升，居民可以通过线上平台提出意见和建议。";

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The JSON brief of one file (exit 0 asserted).
fn brief(path: &Path) -> serde_json::Value {
    let output = zhbrief().args(["--format", "json"]).arg(path).output().unwrap();
    assert!(output.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn html_page(head: &str, body: &str) -> String {
    let paragraphs: String = STORY.lines().map(|p| format!("<p>{}</p>\n", p.trim())).collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">{head}</head><body>{body}<div class=\"article\">{paragraphs}</div></body></html>"
    )
}

#[test]
fn an_ascii_heavy_gb2312_page_decodes() {
    let dir = tempfile::tempdir().unwrap();
    // Mostly ASCII markup, whose letter pairs decode as UTF-16 into Han characters.
    let nav: String = (0..40).map(|i| format!("<a href=\"/static/channel/section{i}/index.html\" class=\"nav-item\">nav</a>")).collect();
    for declaration in ["<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">", ""] {
        let page = html_page(&format!("{declaration}<title>城市更新稳步推进_某某网</title>"), &format!("<div class=\"nav\">{nav}</div>"))
            .replace("<meta charset=\"utf-8\">", "");
        let (bytes, _, unmappable) = GB18030.encode(&page);
        assert!(!unmappable);
        let brief = brief(&write(dir.path(), "gb2312.html", &bytes));
        assert_eq!(brief["title"], "城市更新稳步推进", "{declaration:?}");
        assert!(brief["key_points"][0].as_str().unwrap().starts_with("某市今年启动城市更新项目"), "{brief}");
    }
}

#[test]
fn headlines_lose_site_names_and_keep_their_own_words() {
    let dir = tempfile::tempdir().unwrap();
    let pasted = [
        ("暴雨致多地停课 - 滚动新闻 - 某省日报网 - 某某在线", "暴雨致多地停课"),
        ("央行宣布降准 - 某某经济观察网 － 专业财经新闻网站", "央行宣布降准"),
        ("博物馆夜场开放-某某网", "博物馆夜场开放"),
        ("NEWS GOV-MO: 特区政府推出消费补贴计划", "特区政府推出消费补贴计划"),
        ("走进乡村——记一位扎根山区的教师", "走进乡村——记一位扎根山区的教师"),
        ("专访：城市更新的下一步怎么走", "专访：城市更新的下一步怎么走"),
    ];
    for (first_line, expected) in pasted {
        let path = write(dir.path(), "pasted.txt", format!("{first_line}\n2024-03-01 09:30 来源：某某日报\n{STORY}"));
        assert_eq!(brief(&path)["title"], expected, "{first_line}");
    }
    // A photo credit before the headline is neither headline nor story.
    let path = write(dir.path(), "credit.txt", format!("（图片来源：视觉中国）\n城市更新稳步推进\n{STORY}"));
    let captioned = brief(&path);
    assert_eq!(captioned["title"], "城市更新稳步推进");
    assert!(!captioned.to_string().contains("视觉中国"));

    let pages = [
        (html_page("<title>城市更新稳步推进_社会_某某网</title>", ""), "城市更新稳步推进"),
        (
            html_page(
                "<title>城市更新稳步推进 | 某某财经 | example.com</title><meta property=\"og:site_name\" content=\"某某财经\">",
                "<h1 class=\"logo\">某某财经 NEWSNET</h1>",
            ),
            "城市更新稳步推进",
        ),
        (html_page("<title>首届中国－东盟论坛开幕--时政--某某网</title>", "<h1>首届中国－东盟论坛开幕</h1>"), "首届中国－东盟论坛开幕"),
    ];
    for (page, expected) in pages {
        assert_eq!(brief(&write(dir.path(), "page.html", &page))["title"], expected, "{page}");
    }
}

#[test]
fn dates_where_pages_print_them_kept_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let pasted = [
        ("发表于 2005-5-7 21:23:57", "2005-05-07 21:23"),
        ("2005年3月21日 11:21 来源：某某晚报", "2005-03-21 11:21"),
        ("时间：2019-06-01", "2019-06-01"),
        ("发布时间：2020年07月04日 01:55  来源：央视新闻客户端", "2020-07-04 01:55"),
        ("新华网河北频道 ( 2012-06-04 09:20:26 ) 稿件来源： 某某日报", "2012-06-04 09:20"),
    ];
    for (line, expected) in pasted {
        let path = write(dir.path(), "dated.txt", format!("城市更新稳步推进\n{line}\n{STORY}"));
        assert_eq!(brief(&path)["date"], expected, "{line}");
    }
    let pages = [
        ("<meta property=\"article:published_time\" content=\"2020-07-04T01:55:04+08:00\">", "2020-07-04 01:55"),
        ("<meta name=\"pubdate\" content=\"2021-02-03 10:00\">", "2021-02-03 10:00"),
        ("<meta name=\"publishdate\" content=\"2023-11-17\">", "2023-11-17"),
        (
            "<script type=\"application/ld+json\">{\"@context\":\"https://schema.org\",\"@type\":\"NewsArticle\",\"headline\":\"城市更新稳步推进\",\"datePublished\":\"2022-08-09T07:30:00+08:00\"}</script>",
            "2022-08-09 07:30",
        ),
    ];
    for (tag, expected) in pages {
        let page = html_page(&format!("<title>城市更新稳步推进</title>{tag}"), "<h1>城市更新稳步推进</h1>");
        assert_eq!(brief(&write(dir.path(), "dated.html", &page))["date"], expected, "{tag}");
    }
    // A bare date in the tags and the time the page prints for that day: the time is kept.
    let page = html_page(
        "<title>城市更新稳步推进</title><meta name=\"publishdate\" content=\"2023-11-17\">",
        "<h1>城市更新稳步推进</h1><div class=\"info\">2023-11-17 15:13 来源：某某日报网</div>",
    );
    assert_eq!(brief(&write(dir.path(), "both.html", &page))["date"], "2023-11-17 15:13");
}

#[test]
fn bylines_give_names_without_titles_or_markup() {
    let dir = tempfile::tempdir().unwrap();
    let pasted = [
        ("2024-03-01 来源：某某日报 记者 张三 李四", Some("张三、李四"), Some("某某日报")),
        ("作者：实习记者、樊亮、王芳", Some("樊亮、王芳"), None),
        ("本报记者 刘晓玲 通讯员 陈小明", Some("刘晓玲"), None),
        ("作者： 记者王敬照 编辑： 王华军", Some("王敬照"), None),
    ];
    for (line, author, source) in pasted {
        let brief = brief(&write(dir.path(), "byline.txt", format!("城市更新稳步推进\n{line}\n{STORY}")));
        assert_eq!((brief["author"].as_str(), brief["source"].as_str()), (author, source), "{line}");
    }
    let trailer = brief(&write(dir.path(), "trailer.txt", format!("城市更新稳步推进\n{STORY}（评论员 罗博 萧海川）")));
    assert_eq!(trailer["author"], "罗博、萧海川");

    let pages = [
        ("<meta name=\"author\" content=\"肖春芳\">", Some("肖春芳")),
        ("<meta name=\"author\" content=\"105092\">", None),
        ("<meta name=\"author\" content='size=\"20\" size=\"20\"'>", None),
        (
            "<script type=\"application/ld+json\">{\"@context\":\"https://schema.org\",\"@type\":\"NewsArticle\",\"author\":{\"@type\":\"Person\",\"name\":\"王五\"}}</script>",
            Some("王五"),
        ),
    ];
    for (tag, author) in pages {
        let page = html_page(&format!("<title>城市更新稳步推进</title>{tag}"), "<h1>城市更新稳步推进</h1>");
        assert_eq!(brief(&write(dir.path(), "author.html", &page))["author"].as_str(), author, "{tag}");
    }
}

/// A rolling-news page: thirty headlines, each a link with its time.
fn list_page() -> String {
    let items: String = (0..30)
        .map(|i| format!("<li><a href=\"/news/2024/03/{i:02}/item{i}.html\">某地第{i}批重点项目集中开工建设</a><span>03-01 {:02}:{:02}</span></li>\n", 8 + i / 6, i * 2))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>滚动新闻_某某网</title></head><body><h1>滚动新闻</h1><ul class=\"list\">{items}</ul></body></html>"
    )
}

#[test]
fn list_pages_are_refused_with_one_line_and_skipped_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let html = write(dir.path(), "list.html", list_page());
    zhbrief().arg(&html).assert().code(65).stdout("").stderr(
        predicate::str::contains("list.html: not an article: a list of 30 links").and(predicate::str::is_match("^[^\n]*\n$").unwrap()),
    );
    let lines: String = (0..20).map(|i| format!("· 某地第{i}批重点项目集中开工建设 03-01 {:02}:{:02}\n", 8 + i / 6, i * 2)).collect();
    let text = write(dir.path(), "list.txt", format!("滚动新闻\n{lines}"));
    zhbrief().arg(&text).assert().code(65).stderr(predicate::str::contains("list.txt: not an article: a list of 20 headlines"));

    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(&html, input.join("rolling.html")).unwrap();
    write(&input, "story.txt", format!("城市更新稳步推进\n{STORY}"));
    zhbrief().arg("--out").arg(&out).arg(&input).assert().code(0).stderr(
        predicate::str::contains("rolling.html: not an article")
            .and(predicate::str::contains("1 written, 0 unchanged, 1 not an article, 0 failed")),
    );
    assert!(out.join("story.md").is_file() && !out.join("rolling.md").exists());
    zhbrief().args(["--check", "--out"]).arg(&out).arg(&input).assert().code(0);
    zhbrief().args(["--strict-pages", "--out"]).arg(&out).arg(&input).assert().code(1);
    // To stdout, one list page among several inputs is skipped too.
    zhbrief().arg(&input).assert().code(0).stdout(predicate::str::contains("城市更新"));
}

#[test]
fn forum_threads_and_blog_posts_are_briefed() {
    let dir = tempfile::tempdir().unwrap();
    let post = |id: u32, text: &str| {
        format!(
            "<div class=\"post\"><div class=\"author\">用户{id}</div><table><tr><td class=\"t_f\" id=\"postmessage_{id}\">{text}</td></tr></table></div>"
        )
    };
    let opening = "家门口的公园终于改造完了<br>周末带孩子去转了一圈 步道修得很平整<br>新装的健身器材老人孩子都能用<br>湖边还多了几处休息的长椅 晚上灯光也很漂亮<br>就是停车位还是不太够 希望以后能再增加一些";
    let replies: String = (1..6).map(|i| post(100 + i, &format!("回复{i}楼：同感，周末人太多了"))).collect();
    let thread = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>家门口的公园改造完了 - 本地生活 - 某某论坛</title></head><body><h1>家门口的公园改造完了</h1>{}{replies}</body></html>",
        post(100, opening)
    );
    let brief_of_thread = brief(&write(dir.path(), "thread.html", &thread));
    assert_eq!(brief_of_thread["title"], "家门口的公园改造完了");
    let points = brief_of_thread["key_points"].to_string();
    assert!(points.contains("步道修得很平整") && !points.contains("回复"), "{points}");

    // A blog post whose lines end with no full stop.
    let blog = "新竹尖石枫林营地赏枫\n一波波低温寒流报到 已将山区一带层层山峦披上嫣红的彩衣\n沿着山路一路下切蜿蜒道路后不久即抵达营地\n营区内除了露营和民宿 赏枫项目也多了许多原木饰品\n每年十二月向来是摄影班外拍的绝佳场所之一\n来到现场已是落叶飘飘堆叠满地 不时随着风吹雨袭而叶落\n";
    let brief_of_blog = brief(&write(dir.path(), "blog.txt", blog));
    assert_eq!(brief_of_blog["title"], "新竹尖石枫林营地赏枫");
    assert!(brief_of_blog["key_points"].as_array().unwrap().len() >= 3);
}

//! Bytes → text: BOMs, UTF-8, UTF-16, and legacy Chinese encodings guessed by chardetng.

use std::sync::LazyLock;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use regex::bytes::Regex;

/// Text decoded from an input, with the encoding it was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text, without BOM.
    pub text: String,
    /// The encoding used.
    pub encoding: &'static Encoding,
}

/// Why bytes could not be taken as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Nothing but whitespace.
    Empty,
    /// Binary data or an encoding we cannot read; the string says which.
    NotText(String),
}

/// Looks up an `--encoding` label (WHATWG names and aliases: `gbk`, `gb18030`, `big5`, `utf-16le`…).
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

/// Decodes `bytes`, detecting the encoding unless `forced` names one.
///
/// Order, as browsers do it (WHATWG) but for one step: a BOM wins; then valid UTF-8 (a page saved
/// as UTF-8 often still declares the charset it was served in, and legacy Chinese text is never
/// valid UTF-8 by chance); then UTF-16 without BOM, only on the evidence of its zero bytes; then
/// the charset the bytes declare (`<meta charset>`, `http-equiv`, an XML or wrapper `encoding=`
/// in the first 1,024 bytes); then chardetng's guess among legacy encodings. Decoding errors are tolerated only at the very end (a
/// file cut mid-character) or in tiny numbers; beyond that the input is refused rather than turned
/// into a brief of replacement characters.
pub fn decode(bytes: &[u8], forced: Option<&'static Encoding>) -> Result<Decoded, DecodeError> {
    let (encoding, body) = match (forced, Encoding::for_bom(bytes)) {
        (_, Some((bom_encoding, bom_len))) => (bom_encoding, &bytes[bom_len..]),
        (Some(encoding), None) => (encoding, bytes),
        (None, None) => (detect(bytes), bytes),
    };
    let (text, _had_errors) = encoding.decode_without_bom_handling(body);
    let mut text = text.into_owned();
    // A file truncated mid-character ends in one replacement character: drop it, keep the rest.
    if text.ends_with('\u{FFFD}') {
        text.pop();
    }
    check_is_text(&text).map_err(|err| match err {
        // Control characters the bytes did not contain come from decoding with the wrong
        // encoding (or several encodings in one file), not from binary data.
        DecodeError::NotText(_) if !bytes_look_binary(bytes) && encoding != UTF_8 => {
            DecodeError::NotText(format!("bytes are not valid {} (mixed or wrongly detected encodings? try --encoding)", encoding.name()))
        }
        other => other,
    })?;
    Ok(Decoded { text, encoding })
}

/// Guesses the encoding of BOM-less bytes.
fn detect(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() || utf8_truncated_at_end(bytes) {
        return UTF_8;
    }
    if let Some(utf16) = sniff_utf16(bytes) {
        return utf16;
    }
    if let Some(declared) = declared_encoding(bytes) {
        return declared;
    }
    // A file cut mid-character ends in a stray lead byte, which chardetng takes as evidence against
    // every multi-byte encoding: also try without the last (up to 3) non-ASCII bytes, and take the
    // first multi-byte guess under which the rest decodes cleanly (single-byte guesses never fail).
    let trailing_high = bytes.iter().rev().take(3).take_while(|&&b| b >= 0x80).count();
    let guess = |evidence: &[u8]| {
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
        detector.feed(evidence, true);
        detector.guess(None, chardetng::Utf8Detection::Allow)
    };
    (0..=trailing_high)
        .map(|cut| &bytes[..bytes.len() - cut])
        .find_map(|evidence| {
            let encoding = guess(evidence);
            let (_, had_errors) = encoding.decode_without_bom_handling(evidence);
            (!had_errors && !encoding.is_single_byte()).then_some(encoding)
        })
        .unwrap_or_else(|| guess(bytes))
}

/// True when the bytes are UTF-8 except for an incomplete character at the very end.
fn utf8_truncated_at_end(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() > 0,
    }
}

/// Recognises BOM-less UTF-16 by its zero bytes: the high byte of every ASCII character (the
/// newlines, digits and punctuation every real text has) is zero, all on one parity. Never by the
/// bytes decoding into Han characters: any two ASCII letters do (`ab` is U+6261 in UTF-16LE), so
/// an ASCII-heavy GB2312 page would pass for Chinese UTF-16.
fn sniff_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    let units = sample.len() / 2;
    let zeros_even = sample.iter().step_by(2).filter(|&&b| b == 0).count();
    let zeros_odd = sample.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    // At least two zero bytes, one unit in a hundred, and far fewer on the other parity (where
    // only characters like U+4E00, one Han character in 256, put one).
    let evidence = |on: usize, off: usize| on >= 2 && on * 100 >= units && off * 4 <= on;
    let candidate = if evidence(zeros_odd, zeros_even) {
        UTF_16LE
    } else if evidence(zeros_even, zeros_odd) {
        UTF_16BE
    } else {
        return None;
    };
    let (_, had_errors) = candidate.decode_without_bom_handling(sample);
    (!had_errors).then_some(candidate)
}

/// The encoding the bytes declare in their first 1,024 bytes, as a browser's prescan finds it:
/// `<meta charset=…>`, `<meta http-equiv="Content-Type" content="…; charset=…">`, or an
/// `encoding="…"` in an XML declaration or a wrapper's tag. A declared UTF-8 or UTF-16 is no help
/// here (the bytes are not valid UTF-8, and UTF-16 would have had zero bytes), nor is a
/// declaration the bytes do not decode under.
fn declared_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    static DECLARATION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?i-u)<(?:meta\b[^>]*?\bcharset|\?xml\b[^>]*?\bencoding|[a-z][a-z0-9:_-]*\b[^>]*?\sencoding)\s*=\s*["']?\s*([a-z0-9_.:-]+)"#,
        )
        .expect("the declaration pattern is valid")
    });
    let head = &bytes[..bytes.len().min(1024)];
    let label = DECLARATION.captures(head)?.get(1)?.as_bytes();
    let encoding = Encoding::for_label(label)?;
    if encoding == UTF_8 || encoding == UTF_16LE || encoding == UTF_16BE {
        return None;
    }
    let (_, had_errors) = encoding.decode_without_bom_handling(bytes);
    (!had_errors).then_some(encoding)
}

/// More than 1% C0 control bytes (other than whitespace) or any NUL: not text in an ASCII-compatible
/// encoding.
fn bytes_look_binary(bytes: &[u8]) -> bool {
    let controls = bytes.iter().filter(|&&b| matches!(b, 0x00..=0x08 | 0x0E..=0x1F | 0x7F)).count();
    bytes.contains(&0) || controls * 100 > bytes.len()
}

/// Refuses text that is really binary data or the product of a wrong encoding.
fn check_is_text(text: &str) -> Result<(), DecodeError> {
    if text.trim().is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut total = 0usize;
    let mut replacement = 0usize;
    let mut control = 0usize;
    for c in text.chars() {
        total += 1;
        if c == '\u{FFFD}' {
            replacement += 1;
        } else if c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}') {
            control += 1;
        }
    }
    if control * 100 > total {
        return Err(DecodeError::NotText(format!("binary data ({control} control characters)")));
    }
    // A stray bad byte happens in real pages; a few percent means the encoding is wrong.
    if replacement > 8 && replacement * 100 > total {
        return Err(DecodeError::NotText(format!(
            "{replacement} of {total} characters are not valid in any supported encoding (try --encoding)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, GB18030, GBK};

    const SAMPLE: &str = "上海宝山全力打造新时代现代化转型样本。“南北转型”是重大部署！";

    #[test]
    fn utf8_with_and_without_bom() {
        let plain = decode(SAMPLE.as_bytes(), None).unwrap();
        assert_eq!(plain.text, SAMPLE);
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(SAMPLE.as_bytes());
        assert_eq!(decode(&with_bom, None).unwrap().text, SAMPLE);
    }

    #[test]
    fn utf16_with_bom_and_without() {
        // Real text has newlines and digits, whose high bytes are the zeros that betray UTF-16.
        let text = format!("{SAMPLE}\n2023年10月23日\n{SAMPLE}\n");
        for (encoding, bom) in [(UTF_16LE, &b"\xFF\xFE"[..]), (UTF_16BE, &b"\xFE\xFF"[..])] {
            let units: Vec<u8> =
                text.encode_utf16().flat_map(|u| if encoding == UTF_16LE { u.to_le_bytes() } else { u.to_be_bytes() }).collect();
            let mut with_bom = bom.to_vec();
            with_bom.extend_from_slice(&units);
            assert_eq!(decode(&with_bom, None).unwrap().text, text);
            let without = decode(&units, None).unwrap();
            assert_eq!((without.text.as_str(), without.encoding), (text.as_str(), encoding));
        }
    }

    /// A GB2312 page as servers send them: mostly ASCII markup, a little Chinese.
    fn ascii_heavy_gb2312_page(declaration: &str) -> (String, Vec<u8>) {
        let page = format!(
            "<html><head>{declaration}<title>宝山转型</title><script src=\"/static/js/analytics.min.js\"></script>\
             <link rel=\"stylesheet\" href=\"/static/css/article.css\"></head><body><div class=\"content article-body\">\
             <p>上海宝山全力打造新时代现代化转型样本。</p><a href=\"/news/index.html\">home</a></div></body></html>"
        );
        let (bytes, _, unmappable) = GB18030.encode(&page);
        assert!(!unmappable);
        let bytes = bytes.into_owned();
        (page, bytes)
    }

    #[test]
    fn ascii_heavy_gb2312_html_is_not_taken_for_utf16() {
        // Pairs of lowercase letters decode as UTF-16 into Han characters ("Bush hid the facts");
        // without zero bytes, these bytes are never UTF-16.
        for declaration in ["<meta charset=\"gb2312\">", ""] {
            let (page, bytes) = ascii_heavy_gb2312_page(declaration);
            assert_eq!(sniff_utf16(&bytes), None);
            let decoded = decode(&bytes, None).unwrap();
            assert_eq!(decoded.text, page, "{declaration:?}");
        }
    }

    #[test]
    fn declared_charsets_are_honoured() {
        for declaration in [
            "<meta charset=gb2312>",
            "<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=GBK\">",
            "<meta content=\"text/html;charset=gb18030\" http-equiv=\"content-type\" />",
        ] {
            let (page, bytes) = ascii_heavy_gb2312_page(declaration);
            assert_eq!(declared_encoding(&bytes), Some(GBK).filter(|_| !declaration.contains("18030")).or(Some(GB18030)), "{declaration}");
            assert_eq!(decode(&bytes, None).unwrap().text, page);
        }
        let (xml, _, _) = BIG5.encode("<?xml version=\"1.0\" encoding=\"big5\"?><item><title>寶山轉型</title></item>");
        assert_eq!(declared_encoding(&xml), Some(BIG5));
        let (wrapped, _, _) = BIG5.encode("<document encoding='big5'><text>寶山轉型樣本</text></document>");
        assert_eq!(declared_encoding(&wrapped), Some(BIG5));
        // A page saved as UTF-8 that still declares GB2312 is UTF-8.
        let saved = "<html><head><meta charset=\"gb2312\"></head><body><p>上海宝山全力打造转型样本。</p></body></html>";
        assert_eq!(decode(saved.as_bytes(), None).unwrap().encoding, UTF_8);
        // A declaration the bytes do not decode under is ignored.
        let (_, gb) = ascii_heavy_gb2312_page("<meta charset=\"big5\">");
        assert_ne!(declared_encoding(&gb), Some(BIG5));
    }

    #[test]
    fn detects_gb18030_and_big5() {
        // Longer text gives chardetng enough evidence, as a real article does.
        let long = SAMPLE.repeat(4);
        let (gb, _, _) = GB18030.encode(&long);
        let decoded = decode(&gb, None).unwrap();
        assert_eq!(decoded.text, long);
        assert!(decoded.encoding == GBK || decoded.encoding == GB18030);

        let traditional = "上海寶山全力打造新時代現代化轉型樣本。「南北轉型」是重大部署！".repeat(4);
        let (big5, _, _) = BIG5.encode(&traditional);
        let decoded = decode(&big5, None).unwrap();
        assert_eq!((decoded.text.as_str(), decoded.encoding), (traditional.as_str(), BIG5));
    }

    #[test]
    fn forced_encoding_is_used() {
        let (gb, _, _) = GBK.encode(SAMPLE);
        assert_eq!(decode(&gb, Some(GBK)).unwrap().text, SAMPLE);
        assert!(encoding_for_label("gbk").is_some());
        assert!(encoding_for_label("klingon").is_none());
    }

    #[test]
    fn truncated_multibyte_at_end_is_tolerated() {
        let long = SAMPLE.repeat(4);
        let (gb, _, _) = GB18030.encode(&long);
        let cut = &gb[..gb.len() - 1];
        let decoded = decode(cut, None).unwrap();
        assert!(long.starts_with(&decoded.text));
        let utf8 = &long.as_bytes()[..long.len() - 1];
        assert!(long.starts_with(&decode(utf8, None).unwrap().text));
    }

    #[test]
    fn refuses_empty_and_binary() {
        assert_eq!(decode(b"", None), Err(DecodeError::Empty));
        assert_eq!(decode(b" \n\t ", None), Err(DecodeError::Empty));
        let binary: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert!(matches!(decode(&binary, None), Err(DecodeError::NotText(_))));
        assert!(matches!(decode(b"abc\0\0\0\0\0def\0\0\x01\x02", None), Err(DecodeError::NotText(_))));
    }
}

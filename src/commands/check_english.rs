//! `zhbrief check-english SOURCE ENGLISH`: the English check of briefs applied to any
//! translation, line by line, for CI gates on translations made elsewhere and for measuring.

use std::path::Path;

use super::{Stdout, fail};
use crate::error::{Error, Origin, exit};
use crate::model_stage::{english_check, glossary};

/// Prints `LINE<TAB>item; item` for each English line with items its Chinese line does not
/// support (names checked against the same built-in renderings briefs use) and a count on
/// stderr; exit 1 when any line has one, 65 when the files do not have the same number of lines.
pub fn run(source: &Path, english: &Path) -> u8 {
    let read =
        |path: &Path| std::fs::read_to_string(path).map_err(|source| Error::Read { origin: Origin::File(path.to_path_buf()), source });
    let (chinese, translated) = match (read(source), read(english)) {
        (Ok(chinese), Ok(translated)) => (chinese, translated),
        (Err(err), _) | (_, Err(err)) => return fail(&err),
    };
    let (chinese, translated): (Vec<&str>, Vec<&str>) = (chinese.lines().collect(), translated.lines().collect());
    if chinese.len() != translated.len() {
        eprintln!(
            "zhbrief: {} has {} lines and {} has {}: they must match line for line",
            source.display(),
            chinese.len(),
            english.display(),
            translated.len()
        );
        return exit::DATA;
    }
    let (mut out, mut flagged) = (Stdout::default(), 0);
    for (n, (chinese, english)) in chinese.iter().zip(&translated).enumerate() {
        let entries = glossary::article_glossary(chinese, &[]);
        let items = english_check::unsupported(english, chinese, &entries);
        if !items.is_empty() {
            flagged += 1;
            out.line(format_args!("{}\t{}", n + 1, items.join("; ")));
        }
    }
    eprintln!("zhbrief: {flagged} of {} lines state what their source does not", chinese.len());
    out.exit_code(if flagged > 0 { exit::SOME_FAILED } else { exit::OK })
}

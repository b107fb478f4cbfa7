//! Folder batches and CI mode: one brief per article in a mirrored tree, an index, atomic writes,
//! reruns that skip what is up to date, `--check`, and `--shard`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Origin, exit};
use crate::input::{self, Input};
use crate::pipeline::Pipeline;
use crate::render::{self, Format};
use crate::settings::fingerprint;

/// File name of the digest of all briefs, at the top of the output folder.
pub const INDEX_FILE: &str = "index.md";

/// One of N deterministic slices of the inputs, `I/N` with 1 ≤ I ≤ N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, from 1.
    pub index: u64,
    /// How many slices.
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (index, count) = text.split_once('/').ok_or("expected I/N, e.g. 2/8")?;
        let index: u64 = index.trim().parse().map_err(|_| format!("bad shard index `{index}`"))?;
        let count: u64 = count.trim().parse().map_err(|_| format!("bad shard count `{count}`"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count}: need 1 ≤ I ≤ N"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether `relative` belongs to this shard. By a hash of the path, so adding or removing files
    /// never moves the others between shards.
    pub fn contains(&self, relative: &Path) -> bool {
        let digest = Sha256::digest(relative.as_os_str().as_encoded_bytes());
        let bucket = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        bucket % self.count == self.index - 1
    }
}

/// When to draw progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, nothing otherwise.
    #[default]
    Auto,
    /// A bar on a terminal, plain periodic lines otherwise (CI logs).
    Always,
    /// Never.
    Never,
}

/// What batch mode needs beyond the pipeline settings.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Files, folders or `-`.
    pub inputs: Vec<PathBuf>,
    /// Output folder.
    pub out: PathBuf,
    /// Write nothing; report stale or missing briefs.
    pub check: bool,
    /// Stop at the first failed input.
    pub fail_fast: bool,
    /// Process only this slice of the inputs.
    pub shard: Option<Shard>,
    /// Progress display.
    pub progress: ProgressMode,
    /// No progress and no summary line.
    pub quiet: bool,
}

/// What happened to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Written,
    Unchanged,
    Stale,
    Missing,
    Failed,
    /// A list or index page: reported, briefed by nobody, not a failure (unless `--strict-pages`).
    NotAnArticle,
    Skipped,
}

/// The line embedded in every brief written to an output folder: what it was made from, and what
/// the index lists. Kept inside the brief itself (not in a shared manifest) so that shards running
/// on different machines never write the same file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    input: String,
    title: Option<String>,
    date: Option<String>,
    source: Option<String>,
    first_point: Option<String>,
    /// What the English states that the check could not trace to the source, for `--strict`
    /// on reruns too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    untraced: Option<String>,
}

const MARKDOWN_RECORD_PREFIX: &str = "<!-- zhbrief ";
const MARKDOWN_RECORD_SUFFIX: &str = " -->";

/// Runs a batch (or a check) over the inputs; returns the exit code.
pub fn run(pipeline: &Pipeline, options: &BatchOptions, interrupted: Arc<AtomicBool>) -> u8 {
    let (mut inputs, walk_errors) = input::collect_inputs(&options.inputs);
    if let Some(shard) = options.shard {
        inputs.retain(|input| shard.contains(&input.relative));
    }
    let progress = Progress::new(options, inputs.len());
    walk_errors.iter().for_each(|err| progress.error(&err.to_string()));

    let planned = plan_outputs(&inputs, &options.out, pipeline.settings().brief.format);
    let stop = AtomicBool::new(false);
    // Failures because the engine was unavailable: when they are all there is, the exit code
    // says so (69), and a rerun once the engine is back finishes the batch.
    let unavailable = AtomicUsize::new(0);
    let identity = pipeline.identity();
    let run_one = |(input, target): &(Input, Result<PathBuf, String>)| -> Outcome {
        if stop.load(Ordering::Relaxed) || interrupted.load(Ordering::Relaxed) {
            return Outcome::Skipped;
        }
        progress.start(input);
        let outcome = match target {
            Err(reason) => Err(Error::Config(format!("{}: {reason}", input.origin))),
            Ok(path) => process(input, path, pipeline, identity, options),
        };
        let outcome = outcome.unwrap_or_else(|err| {
            progress.error(&err.to_string());
            if err.is_not_an_article() && !pipeline.settings().strict_pages {
                return Outcome::NotAnArticle;
            }
            if options.fail_fast {
                stop.store(true, Ordering::Relaxed);
            }
            if err.exit_code() == exit::UNAVAILABLE {
                unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failed
        });
        if let (Outcome::Stale | Outcome::Missing, Ok(path)) = (outcome, target) {
            let what = if outcome == Outcome::Stale { "stale" } else { "missing" };
            progress.error(&format!("{}: brief {what} (input {})", path.display(), input.origin));
        }
        progress.finish_one();
        outcome
    };
    let outcomes: Vec<Outcome> = pipeline.map_in_order(&planned, run_one);
    progress.clear();

    let count = |wanted: Outcome| outcomes.iter().filter(|&&o| o == wanted).count();
    let failed = count(Outcome::Failed) + walk_errors.len();
    let mut index_ok = true;
    if options.shard.is_none() && !interrupted.load(Ordering::Relaxed) {
        index_ok = if options.check { check_index(&options.out, &progress) } else { write_index_reporting(&options.out, &progress) };
    }
    if !options.quiet {
        let not_articles = match count(Outcome::NotAnArticle) {
            0 => String::new(),
            1 => ", 1 not an article".to_string(),
            n => format!(", {n} not articles"),
        };
        let summary = if options.check {
            format!(
                "zhbrief: {} up to date, {} stale, {} missing{not_articles}, {} failed",
                count(Outcome::Unchanged),
                count(Outcome::Stale),
                count(Outcome::Missing),
                failed
            )
        } else {
            format!(
                "zhbrief: {} written, {} unchanged{not_articles}, {} failed",
                count(Outcome::Written),
                count(Outcome::Unchanged),
                failed
            )
        };
        eprintln!("{summary}");
    }
    if interrupted.load(Ordering::Relaxed) {
        eprintln!("zhbrief: interrupted; briefs written so far are complete, rerun to finish");
        return exit::INTERRUPTED;
    }
    let clean = failed == 0 && count(Outcome::Stale) == 0 && count(Outcome::Missing) == 0 && index_ok;
    if clean {
        exit::OK
    } else if failed > 0 && failed == unavailable.load(Ordering::Relaxed) && count(Outcome::Stale) + count(Outcome::Missing) == 0 {
        exit::UNAVAILABLE
    } else {
        exit::SOME_FAILED
    }
}

/// Maps each input to its brief's path under `out`, refusing two inputs that would share one
/// (a.txt and a.html) and an input whose brief would overwrite the index.
fn plan_outputs(inputs: &[Input], out: &Path, format: Format) -> Vec<(Input, Result<PathBuf, String>)> {
    let mut claimed: HashMap<PathBuf, &Origin> = HashMap::new();
    let index = out.join(INDEX_FILE);
    inputs
        .iter()
        .map(|input| {
            let path = out.join(&input.relative).with_extension(format.extension());
            let target = if path == index {
                Err(format!("its brief would overwrite the digest {}", index.display()))
            } else if let Some(first) = claimed.get(&path) {
                Err(format!("its brief {} would overwrite the brief of {first}", path.display()))
            } else {
                claimed.insert(path.clone(), &input.origin);
                Ok(path)
            };
            (input.clone(), target)
        })
        .collect()
}

fn process(input: &Input, path: &Path, pipeline: &Pipeline, identity: &str, options: &BatchOptions) -> Result<Outcome, Error> {
    let settings = pipeline.settings();
    let bytes = input::read_bytes(&input.origin, settings.max_input_bytes)?;
    let fingerprint = fingerprint(identity, &bytes);
    let existing = read_record(path);
    // With --strict, a brief whose English has untraceable items fails the run, this time and
    // on every rerun that finds it unchanged; it is written all the same.
    let strict = |outcome: Outcome, record: Option<&Record>| match record.and_then(|r| r.untraced.as_ref()) {
        Some(line) if settings.strict => Err(Error::Untraced(format!("{}: {line} (--strict)", input.origin))),
        _ => Ok(outcome),
    };
    if let Some(record) = existing.as_ref().filter(|record| record.fingerprint == fingerprint) {
        return strict(Outcome::Unchanged, Some(record));
    }
    if options.check {
        // An input the run would refuse (a list page, an empty file) is reported as the run
        // would, not as a brief missing: the input stage needs no model.
        input::parse_article(&input.origin, &bytes, &settings.brief.read)?;
        return Ok(if existing.is_some() || path.exists() { Outcome::Stale } else { Outcome::Missing });
    }
    let brief = pipeline.brief_from_bytes(&input.origin, &bytes)?;
    let record = Record {
        fingerprint,
        input: input.relative.to_string_lossy().replace('\\', "/"),
        title: brief.meta.title.clone(),
        date: brief.meta.date.clone(),
        source: brief.meta.source.clone(),
        first_point: brief.key_points.first().cloned(),
        untraced: super::untraced_english(&brief),
    };
    let text = match settings.brief.format {
        Format::Markdown => {
            let record = serde_json::to_string(&record).expect("record serialises");
            // `>` cannot occur in JSON outside strings, so escaping it keeps `-->` out of the comment.
            let record = record.replace('>', "\\u003e");
            format!("{MARKDOWN_RECORD_PREFIX}{record}{MARKDOWN_RECORD_SUFFIX}\n{}", render::markdown(&brief))
        }
        Format::Json => {
            let mut value = serde_json::to_value(&brief).expect("brief serialises");
            value["zhbrief"] = serde_json::json!({ "fingerprint": record.fingerprint, "input": record.input });
            if let Some(untraced) = &record.untraced {
                value["zhbrief"]["untraced"] = serde_json::json!(untraced);
            }
            let mut text = serde_json::to_string_pretty(&value).expect("value serialises");
            text.push('\n');
            text
        }
    };
    write_atomically(&options.out, path, text.as_bytes())?;
    strict(Outcome::Written, Some(&record))
}

/// Reads the record embedded in a brief written earlier, if the file is one of ours.
fn read_record(path: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(path).ok()?;
    match path.extension()?.to_str()? {
        "md" => {
            let line = text.lines().next()?;
            let json = line.strip_prefix(MARKDOWN_RECORD_PREFIX)?.strip_suffix(MARKDOWN_RECORD_SUFFIX)?;
            serde_json::from_str(json).ok()
        }
        "json" => {
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            let text_field = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
            Some(Record {
                fingerprint: value["zhbrief"]["fingerprint"].as_str()?.to_string(),
                input: value["zhbrief"]["input"].as_str()?.to_string(),
                title: text_field("title"),
                date: text_field("date"),
                source: text_field("source"),
                first_point: value["key_points"].get(0).and_then(|v| v.as_str()).map(str::to_string),
                untraced: value["zhbrief"]["untraced"].as_str().map(str::to_string),
            })
        }
        _ => None,
    }
}

/// Writes `contents` to `path` through a temporary file in the same folder and a rename, so a
/// crash at any moment leaves the old file or the new one, never a truncated one. Refuses to
/// write outside `root`, even through a symbolic link planted inside it.
fn write_atomically(root: &Path, path: &Path, contents: &[u8]) -> Result<(), Error> {
    let write_error = |source| Error::Write { path: path.to_path_buf(), source };
    let folder = path.parent().unwrap_or(root);
    std::fs::create_dir_all(folder).map_err(write_error)?;
    let real_root = root.canonicalize().map_err(write_error)?;
    if !folder.canonicalize().map_err(write_error)?.starts_with(&real_root) {
        return Err(write_error(std::io::Error::other("the folder leads outside the output folder")));
    }
    let mut temporary = tempfile::Builder::new().prefix(".zhbrief-").suffix(".tmp").tempfile_in(folder).map_err(write_error)?;
    temporary.write_all(contents).map_err(write_error)?;
    temporary.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

/// Rebuilds `DIR/index.md` from the briefs in DIR (as `zhbrief index DIR` does).
pub fn write_index(out: &Path) -> Result<usize, Error> {
    let (text, count) = render_index(out);
    write_atomically(out, &out.join(INDEX_FILE), text.as_bytes())?;
    Ok(count)
}

fn write_index_reporting(out: &Path, progress: &Progress) -> bool {
    if !out.exists() {
        return true;
    }
    write_index(out).map_err(|err| progress.error(&err.to_string())).is_ok()
}

fn check_index(out: &Path, progress: &Progress) -> bool {
    let index = out.join(INDEX_FILE);
    let current = std::fs::read_to_string(&index).ok();
    let up_to_date = current.as_deref() == Some(render_index(out).0.as_str());
    if !up_to_date {
        progress.error(&format!("{}: index stale or missing", index.display()));
    }
    up_to_date
}

/// The digest of every brief under `out`: newest first, then by path; no timestamps, so the
/// same briefs always give the same bytes.
fn render_index(out: &Path) -> (String, usize) {
    let mut entries: Vec<(PathBuf, Record)> = walkdir::WalkDir::new(out)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter(|entry| entry.path() != out.join(INDEX_FILE))
        .filter_map(|entry| {
            let record = read_record(entry.path())?;
            let relative = entry.path().strip_prefix(out).ok()?.to_path_buf();
            Some((relative, record))
        })
        .collect();
    entries.sort_by(|(path_a, a), (path_b, b)| b.date.cmp(&a.date).then_with(|| path_a.cmp(path_b)));

    let mut text = format!("# Briefs\n\n{} articles.\n\n", entries.len());
    for (path, record) in &entries {
        let link = path.to_string_lossy().replace('\\', "/").replace(' ', "%20");
        let title = record.title.as_deref().unwrap_or(&record.input);
        let _ = write!(text, "- **[{}]({link})**", render::escape(title));
        let meta: Vec<&str> = [record.date.as_deref(), record.source.as_deref()].into_iter().flatten().collect();
        if !meta.is_empty() {
            let _ = write!(text, " — {}", render::escape(&meta.join(" · ")));
        }
        text.push('\n');
        if let Some(point) = &record.first_point {
            let _ = writeln!(text, "  {}", render::escape(point));
        }
    }
    (text, entries.len())
}

/// Progress on stderr: an indicatif bar on a terminal, plain lines in logs when asked, or nothing.
struct Progress {
    bar: Option<ProgressBar>,
    plain_every: Option<usize>,
    total: usize,
    done: AtomicUsize,
}

impl Progress {
    fn new(options: &BatchOptions, total: usize) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let mode = if options.quiet { ProgressMode::Never } else { options.progress };
        let bar = match mode {
            ProgressMode::Auto | ProgressMode::Always if terminal => {
                let bar = ProgressBar::new(total as u64);
                let style = ProgressStyle::with_template("{bar:30} {pos}/{len} articles {per_sec} eta {eta} {wide_msg}")
                    .expect("template is valid");
                bar.set_style(style);
                Some(bar)
            }
            _ => None,
        };
        let plain_every = (mode == ProgressMode::Always && !terminal).then(|| (total / 20).max(1));
        Progress { bar, plain_every, total, done: AtomicUsize::new(0) }
    }

    fn start(&self, input: &Input) {
        if let Some(bar) = &self.bar {
            bar.set_message(input.relative.display().to_string());
        }
    }

    fn finish_one(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if let Some(every) = self.plain_every
            && (done.is_multiple_of(every) || done == self.total)
        {
            eprintln!("zhbrief: {done}/{} articles", self.total);
        }
    }

    fn error(&self, line: &str) {
        let line = if line.starts_with("zhbrief: ") { line.to_string() } else { format!("zhbrief: {line}") };
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        assert!("0/8".parse::<Shard>().is_err());
        assert!("9/8".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for n in 0..200 {
            let path = PathBuf::from(format!("a/{n}.txt"));
            assert_eq!(shards.iter().filter(|s| s.contains(&path)).count(), 1);
        }
    }

    #[test]
    fn record_survives_markdown_comment_escaping() {
        let record = Record {
            fingerprint: "ab".into(),
            input: "x.txt".into(),
            title: Some("a --> b".into()),
            date: None,
            source: None,
            first_point: None,
            untraced: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.md");
        let json = serde_json::to_string(&record).unwrap().replace('>', "\\u003e");
        std::fs::write(&path, format!("{MARKDOWN_RECORD_PREFIX}{json}{MARKDOWN_RECORD_SUFFIX}\n# a\n")).unwrap();
        assert!(!json.contains("-->"));
        assert_eq!(read_record(&path), Some(record));
    }
}

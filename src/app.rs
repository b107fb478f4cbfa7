//! Drives the pipeline for the command line: inputs in, briefs to stdout, errors to stderr.

use std::io::{self, Write};
use std::path::PathBuf;

use rayon::prelude::*;

use crate::brief::{self, Brief};
use crate::error::{Error, Origin, exit};
use crate::extract::ExtractOptions;
use crate::input::{self, Input, ReadOptions};
use crate::render::{self, Format};

/// Everything a run needs, resolved from flags and config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Files, folders or `-`; empty means stdin.
    pub inputs: Vec<PathBuf>,
    /// How inputs are read and decoded.
    pub read: ReadOptions,
    /// How much the extractive stage picks.
    pub extract: ExtractOptions,
    /// Output format.
    pub format: Format,
    /// Worker threads for input and extractive work.
    pub jobs: usize,
}

impl Settings {
    /// Everything in the settings that changes a brief's bytes, as one canonical string, for the
    /// fingerprints that let reruns skip up-to-date briefs. Worker count is deliberately absent.
    pub fn output_identity(&self) -> String {
        format!(
            "zhbrief {}\nformat={:?}\nsentences={:?}\nmax_chars={:?}\nkeywords={}\nencoding={:?}\n",
            env!("CARGO_PKG_VERSION"),
            self.format,
            self.extract.sentences,
            self.extract.max_chars,
            self.extract.keywords,
            self.read.encoding.map(|e| e.name()),
        )
    }
}

/// Makes the brief of one input's bytes.
pub fn brief_from_bytes(origin: &Origin, bytes: &[u8], settings: &Settings) -> Result<Brief, Error> {
    let article = input::parse_article(origin, bytes, &settings.read)?;
    Ok(brief::extractive_brief(&article, &settings.extract))
}

/// Makes the brief of one input.
pub fn brief_for(input: &Input, settings: &Settings) -> Result<Brief, Error> {
    let bytes = input::read_bytes(&input.origin, settings.read.max_input_bytes)?;
    brief_from_bytes(&input.origin, &bytes, settings)
}

/// Runs zhbrief on the inputs, printing briefs to stdout; returns the process exit code.
///
/// One input: its error's own exit code on failure. Several: every brief that can be made is
/// printed, each failure gets one line on stderr, and the exit code is 1 if any failed.
pub fn run(settings: &Settings) -> u8 {
    let paths = if settings.inputs.is_empty() { vec![PathBuf::from("-")] } else { settings.inputs.clone() };
    let (inputs, walk_errors) = input::collect_inputs(&paths);
    let single = walk_errors.len() + inputs.len() == 1 && paths.len() == 1 && !paths[0].is_dir();
    walk_errors.iter().for_each(report);
    let mut failures: Vec<Error> = walk_errors;

    let pool = rayon::ThreadPoolBuilder::new().num_threads(settings.jobs.max(1)).build();
    let results: Vec<Result<Brief, Error>> = match &pool {
        Ok(pool) => pool.install(|| inputs.par_iter().map(|input| brief_for(input, settings)).collect()),
        Err(_) => inputs.iter().map(|input| brief_for(input, settings)).collect(),
    };

    let mut stdout = io::stdout().lock();
    let json_lines = settings.format == Format::Json && !single;
    let mut printed = 0usize;
    for result in results {
        match result {
            Ok(brief) => {
                let text = match settings.format {
                    Format::Json => render::json(&brief, !json_lines),
                    Format::Markdown => render::markdown(&brief),
                };
                let separator = if printed > 0 && settings.format == Format::Markdown { "\n---\n\n" } else { "" };
                if let Err(err) = stdout.write_all(separator.as_bytes()).and_then(|()| stdout.write_all(text.as_bytes())) {
                    return stdout_failed(err);
                }
                printed += 1;
            }
            Err(err) => {
                report(&err);
                failures.push(err);
            }
        }
    }
    if let Err(err) = stdout.flush() {
        return stdout_failed(err);
    }
    match failures.as_slice() {
        [] => exit::OK,
        [only] if single => only.exit_code(),
        _ => exit::SOME_FAILED,
    }
}

/// Prints one error line on stderr.
pub fn report(err: &Error) {
    eprintln!("zhbrief: {err}");
}

/// A reader that went away (`zhbrief … | head`) is not an error; anything else is.
fn stdout_failed(err: io::Error) -> u8 {
    if err.kind() == io::ErrorKind::BrokenPipe {
        exit::OK
    } else {
        eprintln!("zhbrief: cannot write to stdout: {err}");
        exit::IO
    }
}

//! The output stage: briefs to stdout (one after another, Markdown separated by `---`, JSON one
//! object per line) or, in [`batch`] mode, one file per article under an output folder.

pub mod batch;

use std::io::{self, Write};
use std::path::PathBuf;

use crate::error::{Error, exit};
use crate::input;
use crate::pipeline::Pipeline;
use crate::render::{self, Format};
use crate::types::Brief;

/// Briefs `inputs` (stdin when empty) to stdout; returns the process exit code.
///
/// One input: its error's own exit code on failure. Several: every brief that can be made is
/// printed, each failure gets one line on stderr, and the exit code is 1 if any failed.
pub fn to_stdout(pipeline: &Pipeline, inputs: &[PathBuf]) -> u8 {
    let paths = if inputs.is_empty() { vec![PathBuf::from("-")] } else { inputs.to_vec() };
    let (inputs, walk_errors) = input::collect_inputs(&paths);
    let single = walk_errors.len() + inputs.len() == 1 && paths.len() == 1 && !paths[0].is_dir();
    walk_errors.iter().for_each(report);
    let mut failures: Vec<Error> = walk_errors;

    let format = pipeline.settings().brief.format;
    let results = pipeline.map_in_order(&inputs, |input| pipeline.brief_for(input));
    let mut stdout = io::stdout().lock();
    let json_lines = format == Format::Json && !single;
    let mut printed = 0usize;
    let mut untraced = 0usize;
    for (input, result) in inputs.iter().zip(results) {
        match result {
            Ok(brief) => {
                if let Some(line) = untraced_english(&brief).filter(|_| pipeline.settings().strict) {
                    eprintln!("zhbrief: {}: {line} (--strict)", input.origin);
                    untraced += 1;
                }
                let text = match format {
                    Format::Json => render::json(&brief, !json_lines),
                    Format::Markdown => render::markdown(&brief),
                };
                let separator = if printed > 0 && format == Format::Markdown { "\n---\n\n" } else { "" };
                if let Err(err) = stdout.write_all(separator.as_bytes()).and_then(|()| stdout.write_all(text.as_bytes())) {
                    return stdout_failed(err);
                }
                printed += 1;
            }
            Err(err) => {
                report(&err);
                // One of several inputs being a list page is no failure of the run.
                if single || !err.is_not_an_article() || pipeline.settings().strict_pages {
                    failures.push(err);
                }
            }
        }
    }
    if let Err(err) = stdout.flush() {
        return stdout_failed(err);
    }
    match failures.as_slice() {
        [] if untraced > 0 => exit::SOME_FAILED,
        [] => exit::OK,
        [only] if single => only.exit_code(),
        _ => exit::SOME_FAILED,
    }
}

/// What in the brief's English the check could not trace to the Chinese, as one line; `None`
/// when there is nothing (or no English).
pub fn untraced_english(brief: &Brief) -> Option<String> {
    let listed = brief.translation.as_ref()?.unsupported.listed(str::to_string)?;
    Some(format!("English not found in the source: {listed}"))
}

/// Prints one error line on stderr.
pub fn report(err: &Error) {
    eprintln!("zhbrief: {err}");
}

/// A reader that went away (`zhbrief … | head`) is not an error; anything else is.
pub fn stdout_failed(err: io::Error) -> u8 {
    if err.kind() == io::ErrorKind::BrokenPipe {
        exit::OK
    } else {
        eprintln!("zhbrief: cannot write to stdout: {err}");
        exit::IO
    }
}

//! `zhbrief translate [FILE]`: Chinese text to English, one output line per input line.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::fail;
use crate::error::{Origin, exit};
use crate::input;
use crate::llm;
use crate::model_stage::ModelStage;
use crate::output::stdout_failed;
use crate::settings::{Options, Resolve};

/// Translates `input` (a file, or `-` for stdin) with the model the layered options name (the
/// config file applies as for briefs); returns the exit code.
pub fn run(input_path: &Path, mut flags: Options, config: Option<PathBuf>, verbose: bool) -> u8 {
    flags.translate = Some(true);
    flags.abstractive = Some(false);
    // The text streams to stdout line by line: the model's own stream would only interleave.
    let how = Resolve { verbose, stream: false, need_model_file: true, cancel: Default::default() };
    let settings = match super::brief::resolve(flags, config.as_deref(), how) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let Some(options) = settings.brief.model else { unreachable!("translate always asks for the model stage") };
    let origin = if input_path.as_os_str() == "-" { Origin::Stdin } else { Origin::File(input_path.to_path_buf()) };
    let text = match input::read_bytes(&origin, settings.max_input_bytes)
        .and_then(|bytes| input::decode_input(&origin, &bytes, settings.brief.read.encoding))
    {
        Ok(decoded) => decoded.text,
        Err(err) => return fail(&err),
    };
    let mut stage = match llm::open(&options.engine) {
        Ok(backend) => ModelStage::new(backend, options),
        Err(err) => return fail(&err),
    };
    // Translating a file takes seconds a line: show how far it is on a terminal.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(text.lines().count() as u64);
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} lines eta {eta}").expect("template is valid"));
        bar
    });
    let mut stdout = std::io::stdout().lock();
    let mut write_error = None;
    let result = stage.translate_lines(&text, &mut |line| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if write_error.is_none()
            && let Err(err) = writeln!(stdout, "{line}").and_then(|()| stdout.flush())
        {
            write_error = Some(err);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(err) = write_error {
        return stdout_failed(err);
    }
    match result {
        Ok(()) => exit::OK,
        Err(err) => fail(&err),
    }
}

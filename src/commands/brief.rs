//! `zhbrief [INPUT]...`: briefs to stdout, or one file per article under `--out`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::fail;
use crate::error::exit;
use crate::output::{self, batch};
use crate::pipeline::Pipeline;
use crate::settings::{self, Options, Resolve, Settings};

/// What the command line asked for beyond the layered [`Options`].
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Files, folders or `-`; none reads stdin.
    pub inputs: Vec<PathBuf>,
    /// `--out`, `--check`, `--shard` and the rest of batch mode, when `--out` is given.
    pub batch: Option<batch::BatchOptions>,
    /// `--config FILE` (else `./zhbrief.toml` when present).
    pub config: Option<PathBuf>,
    /// Timings, glossaries, candidates and fallbacks on stderr.
    pub verbose: bool,
    /// No progress, no streamed model text, no summary line.
    pub quiet: bool,
}

/// Runs the brief command; returns the exit code.
pub fn run(flags: Options, request: Request) -> u8 {
    if request.inputs.is_empty() && std::io::stdin().is_terminal() {
        eprintln!("zhbrief: no input: give a file or folder, or pipe an article into stdin (see --help)");
        return exit::USAGE;
    }
    let check = request.batch.as_ref().is_some_and(|b| b.check);
    // Ctrl-C sets a flag: engine requests stop retrying, a batch starts no new article, and the
    // articles in progress finish, so every brief written is whole. Without a batch, Ctrl-C
    // ends the run at once, as for any filter.
    let interrupted = Arc::new(AtomicBool::new(false));
    if request.batch.is_some() {
        let flag = Arc::clone(&interrupted);
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    }
    let how = Resolve { verbose: request.verbose, stream: !request.quiet, need_model_file: !check, cancel: Arc::clone(&interrupted) };
    let settings = match resolve(flags, request.config.as_deref(), how) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let pipeline = match Pipeline::new(settings, !check) {
        Ok(pipeline) => pipeline,
        Err(err) => return fail(&err),
    };
    let Some(mut options) = request.batch else {
        return output::to_stdout(&pipeline, &request.inputs);
    };
    if options.inputs.is_empty() {
        options.inputs.push(PathBuf::from("-"));
    }
    batch::run(&pipeline, &options, interrupted)
}

/// The flags over the config file, resolved; on error its line is printed and its code returned.
pub fn resolve(flags: Options, config: Option<&Path>, how: Resolve) -> Result<Settings, u8> {
    let file = settings::load_config(config).map_err(|err| fail(&err))?;
    Settings::resolve(flags.or(file), how).map_err(|err| fail(&err))
}

//! The `zhbrief` command: parses flags, calls the library, maps the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};
use zhbrief::app::{self, Settings};
use zhbrief::batch::{self, BatchOptions, ProgressMode, Shard};
use zhbrief::config::{self, FileConfig};
use zhbrief::error::{Error, exit};
use zhbrief::extract::{DEFAULT_KEYWORDS, ExtractOptions};
use zhbrief::input::{DEFAULT_MAX_INPUT_BYTES, ReadOptions, decode::encoding_for_label};
use zhbrief::render::Format;

/// Turn Chinese news articles into short, faithful Markdown briefs.
///
/// Reads an article from a file, every article under a folder, or stdin (`-`, or nothing when
/// piped); plain text copied from a web page or HTML, in UTF-8, UTF-16, GB18030/GBK or Big5.
/// Settings come from flags, then ZHBRIEF_* environment variables, then zhbrief.toml.
#[derive(Debug, Parser)]
#[command(name = "zhbrief", version, about, long_about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    brief: BriefArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rebuild DIR/index.md from the briefs in DIR (after sharded runs).
    Index {
        /// An output folder written by `zhbrief --out`.
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
struct BriefArgs {
    /// Article files, folders (searched recursively for .txt .md .html .htm), or `-` for stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Output format [default: markdown].
    #[arg(long, value_enum, env = "ZHBRIEF_FORMAT")]
    format: Option<FormatArg>,

    /// Number of key points [default: 3 to 5, by article length].
    #[arg(short = 'n', long, value_name = "N", env = "ZHBRIEF_SENTENCES")]
    sentences: Option<usize>,

    /// Character budget for all key points together.
    #[arg(long, value_name = "CHARS", env = "ZHBRIEF_MAX_CHARS")]
    max_chars: Option<usize>,

    /// Number of keywords [default: 8].
    #[arg(long, value_name = "N", env = "ZHBRIEF_KEYWORDS")]
    keywords: Option<usize>,

    /// Read inputs in this encoding instead of detecting it (utf-8, gb18030, gbk, big5, utf-16le…).
    #[arg(long, value_name = "LABEL", env = "ZHBRIEF_ENCODING")]
    encoding: Option<String>,

    /// Refuse inputs larger than this many bytes [default: 16 MiB].
    #[arg(long, value_name = "BYTES", env = "ZHBRIEF_MAX_INPUT_BYTES")]
    max_input_bytes: Option<u64>,

    /// Worker threads [default: number of cores].
    #[arg(short, long, value_name = "N", env = "ZHBRIEF_JOBS")]
    jobs: Option<usize>,

    /// Write one brief per article under DIR, mirroring the input tree, plus DIR/index.md.
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// With --out: write nothing, exit 1 naming each stale or missing brief.
    #[arg(long, requires = "out")]
    check: bool,

    /// With --out: stop at the first input that fails.
    #[arg(long, conflicts_with = "keep_going")]
    fail_fast: bool,

    /// With --out: carry on past inputs that fail (the default).
    #[arg(long)]
    keep_going: bool,

    /// With --out: process only slice I of N (stable by path); index with `zhbrief index DIR` after.
    #[arg(long, value_name = "I/N", requires = "out")]
    shard: Option<Shard>,

    /// Progress on stderr in batch mode.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,

    /// No progress and no summary line (errors are still reported).
    #[arg(short, long)]
    quiet: bool,

    /// Config file [default: ./zhbrief.toml when present].
    #[arg(long, value_name = "FILE", env = "ZHBRIEF_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProgressArg {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Index { dir }) => index(&dir),
        None => brief(cli.brief),
    };
    ExitCode::from(code)
}

fn index(dir: &std::path::Path) -> u8 {
    if !dir.is_dir() {
        return fail(&Error::NotFound(zhbrief::Origin::File(dir.to_path_buf())));
    }
    match batch::write_index(dir) {
        Ok(count) => {
            eprintln!("zhbrief: indexed {count} briefs in {}", dir.join(batch::INDEX_FILE).display());
            exit::OK
        }
        Err(err) => fail(&err),
    }
}

fn brief(args: BriefArgs) -> u8 {
    let settings = match settings(&args) {
        Ok(settings) => settings,
        Err(err) => return fail(&err),
    };
    if args.inputs.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("zhbrief: no input: give a file or folder, or pipe an article into stdin (see --help)");
        return exit::USAGE;
    }
    let Some(out) = args.out else {
        return app::run(&settings);
    };
    // Ctrl-C sets a flag: articles in progress finish, no new one starts, briefs stay whole.
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let options = BatchOptions {
        out,
        check: args.check,
        fail_fast: args.fail_fast,
        shard: args.shard,
        progress: match args.progress {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Always => ProgressMode::Always,
            ProgressArg::Never => ProgressMode::Never,
        },
        quiet: args.quiet,
    };
    let mut settings = settings;
    if settings.inputs.is_empty() {
        settings.inputs.push(PathBuf::from("-"));
    }
    batch::run(&settings, &options, interrupted)
}

/// Resolves flags (and their ZHBRIEF_* variables) over the config file over defaults.
fn settings(args: &BriefArgs) -> Result<Settings, Error> {
    let file: FileConfig = config::load(args.config.as_deref())?;
    let encoding_label = args.encoding.clone().or(file.encoding);
    let encoding = match encoding_label.as_deref() {
        None => None,
        Some(label) => Some(encoding_for_label(label).ok_or_else(|| Error::UnknownEncoding(label.into()))?),
    };
    let format = match args.format {
        Some(FormatArg::Markdown) => Format::Markdown,
        Some(FormatArg::Json) => Format::Json,
        None => file.format.unwrap_or_default(),
    };
    Ok(Settings {
        inputs: args.inputs.clone(),
        read: ReadOptions {
            encoding,
            max_input_bytes: args.max_input_bytes.or(file.max_input_bytes).unwrap_or(DEFAULT_MAX_INPUT_BYTES),
        },
        extract: ExtractOptions {
            sentences: args.sentences.or(file.sentences),
            max_chars: args.max_chars.or(file.max_chars),
            keywords: args.keywords.or(file.keywords).unwrap_or(DEFAULT_KEYWORDS),
        },
        format,
        jobs: args
            .jobs
            .or(file.jobs)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    })
}

fn fail(err: &Error) -> u8 {
    eprintln!("zhbrief: {err}");
    err.exit_code()
}

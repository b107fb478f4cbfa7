//! The `zhbrief` command: flags, and a dispatch to the subcommand they name.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use zhbrief::commands;
use zhbrief::output::batch::{BatchOptions, ProgressMode, Shard};
#[cfg(feature = "model")]
use zhbrief::render::Format;
use zhbrief::settings::Options;

/// mimalloc instead of the system allocator: a prompt batch dequantises each weight matrix into a
/// fresh f32 buffer, tens of MB each, which glibc maps and unmaps from the kernel on every call.
/// mimalloc reuses the memory: back-translation scoring with the 1.5B model went from 68 s to
/// 47 s for one segment, with output byte for byte the same.
#[cfg(feature = "model")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ordinary 4 KiB pages for the whole process, no transparent huge pages. Why: mimalloc asks the
/// kernel for huge pages, and every decoding step frees and allocates buffers of megabytes
/// (logits, activations, tensor copies); each fresh 2 MiB page was zeroed whole by the kernel,
/// and pages split by memory handed back were faulted in again. On the 2-core Xeon, binaries
/// alternating, same briefs: the 1.5B model's `--translate` of the real article 93 and 101 s →
/// 87 and 76 s, the 0.5B model's `--abstractive --translate` 87 → 60 s (system time 23–32 s →
/// 3–18 s), peak RSS a little lower; `zhbrief bench`, 1.5B: load 1.5–5 s → 0.9 s, the long
/// prompt 103 → 112 tokens/s, one sequence's generation 16.5 → 16.0 (more TLB misses while
/// streaming the weights). Keeping freed memory instead (mimalloc's purge delay −1) removed the
/// faults too but raised peak RSS by 0.1–0.2 GiB.
#[cfg(all(feature = "model", target_os = "linux"))]
fn without_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes no pointers; it only sets a flag of this process. Where
    // the kernel refuses it (before Linux 3.15), the process runs as before: nothing to report.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

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
    /// Translate Chinese text to English, one output line per input line.
    Translate(Box<TranslateArgs>),
    /// List, verify or locate the known models.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Measure model load, prompt processing and generation speed.
    #[cfg(feature = "model")]
    Bench(BenchArgs),
    /// Check what an OpenAI-compatible server offers the model stage.
    Engine {
        #[command(subcommand)]
        action: EngineAction,
    },
    /// Check any English translation line by line against its Chinese source: print each line
    /// whose numbers, dates or names the source does not support (exit 1 if any).
    CheckEnglish {
        /// The Chinese, one segment per line.
        source: PathBuf,
        /// The English, line for line.
        english: PathBuf,
    },
    /// Rebuild DIR/index.md from the briefs in DIR (after sharded runs).
    Index {
        /// An output folder written by `zhbrief --out`.
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ModelAction {
    /// Known models: name, use, whether present, path and size.
    List,
    /// Check present model files against their manifest's size and SHA-256 (exit 65 on a mismatch).
    Verify {
        /// Only this model.
        name: Option<String>,
    },
    /// Print the path of a model's file (exit 69 if it is not on this machine).
    Path {
        /// A model name [default: the default model].
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum EngineAction {
    /// Connect to URL (e.g. http://127.0.0.1:8080/v1) and print what works (exit 69 if nothing).
    Check {
        /// The endpoint.
        url: String,
        /// The model to ask for [default: the first the server lists].
        #[arg(long, value_name = "NAME")]
        engine_model: Option<String>,
        /// Seconds to wait for each request.
        #[arg(long, value_name = "SECS", default_value_t = 60.0)]
        timeout: f64,
    },
}

/// Switches of the model stage, on or off whatever the config file says.
#[derive(Debug, Args)]
struct ModelSwitches {
    /// Never contact the Hugging Face hub (also: HF_HUB_OFFLINE=1).
    #[arg(long)]
    offline: bool,

    /// Run the model's tensors as shipped, not through the cached Q8_0 re-encoding of any
    /// Q4_0/Q4_1/Q5_1 tensors (which run scalar on CPUs). The default models have none.
    #[arg(long)]
    no_requantize: bool,

    /// With `--candidates 1`, keep a greedy translation the English check flags (it stays
    /// marked) instead of decoding 8 candidates for that unit: the fastest translation.
    #[arg(long)]
    keep_flagged: bool,

    /// Report model timings, glossary, candidates and faithfulness fallbacks on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// Config file [default: ./zhbrief.toml when present].
    #[arg(long, value_name = "FILE", env = "ZHBRIEF_CONFIG")]
    config: Option<PathBuf>,
}

impl ModelSwitches {
    fn apply(&self, options: &mut Options) {
        options.offline = self.offline.then_some(true);
        options.requantize = self.no_requantize.then_some(false);
        options.keep_flagged = self.keep_flagged.then_some(true);
    }
}

#[derive(Debug, Args)]
struct TranslateArgs {
    /// A text file, or `-` for stdin.
    #[arg(default_value = "-")]
    input: PathBuf,

    #[command(flatten)]
    options: Options,

    #[command(flatten)]
    switches: ModelSwitches,
}

#[derive(Debug, Args)]
#[cfg(feature = "model")]
struct BenchArgs {
    /// A model name or GGUF path [default: the default model].
    #[arg(short, long)]
    model: Option<String>,
    /// Text used as the prompt (as a user message in the model's chat template).
    #[arg(long, value_name = "FILE")]
    prompt_file: PathBuf,
    /// Tokens to generate per sequence.
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// Sequences decoded together after the prompt, as translation candidates are (the first
    /// greedy, the others sampled); the generation figure is their aggregate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    batch: u16,
    /// Check tokens drafted from the prompt in one pass (greedy single sequence; same output).
    #[arg(long)]
    prompt_lookup: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
    /// Never contact the hub.
    #[arg(long)]
    offline: bool,
    /// Measure the tensors as shipped, not the cached Q8_0 re-encoding of Q4_0/Q4_1/Q5_1 ones.
    #[arg(long)]
    no_requantize: bool,
}

#[derive(Debug, Args)]
struct BriefArgs {
    /// Article files, folders (searched recursively for .txt .md .html .htm), or `-` for stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    #[command(flatten)]
    options: Options,

    /// Add an abstractive Chinese summary written by the model.
    #[arg(long, overrides_with = "no_abstractive")]
    abstractive: bool,

    /// No abstractive summary, whatever the config file says.
    #[arg(long, overrides_with = "abstractive")]
    no_abstractive: bool,

    /// Add an English translation of the brief (title, key points, summary).
    #[arg(long, overrides_with = "no_translate")]
    translate: bool,

    /// No translation, whatever the config file says.
    #[arg(long, overrides_with = "translate")]
    no_translate: bool,

    #[command(flatten)]
    switches: ModelSwitches,

    /// Write one brief per article under DIR, mirroring the input tree, plus DIR/index.md.
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// With --out: write nothing, exit 1 naming each stale or missing brief (loads no model).
    #[arg(long, requires = "out")]
    check: bool,

    /// With --out: stop at the first input that fails.
    #[arg(long, requires = "out", overrides_with = "keep_going")]
    fail_fast: bool,

    /// With --out: carry on past inputs that fail (the default; overrides an earlier --fail-fast).
    #[arg(long, overrides_with = "fail_fast")]
    keep_going: bool,

    /// With --out: process only slice I of N (stable by path); index with `zhbrief index DIR` after.
    #[arg(long, value_name = "I/N", requires = "out")]
    shard: Option<Shard>,

    /// Progress on stderr in batch mode.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,

    /// No progress, no streamed model text and no summary line (errors are still reported).
    #[arg(short, long)]
    quiet: bool,

    /// Among several inputs, list and index pages fail the run (exit 1) instead of being skipped.
    #[arg(long)]
    strict_pages: bool,

    /// Exit 1 when an English unit states a number, date or name not found in its Chinese source
    /// (the brief is still written, the items listed in it).
    #[arg(long)]
    strict: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProgressArg {
    Auto,
    Always,
    Never,
}

/// An on/off pair of flags: `Some` when either was given (the last one wins).
fn switch(on: bool, off: bool) -> Option<bool> {
    if on {
        Some(true)
    } else if off {
        Some(false)
    } else {
        None
    }
}

fn brief(args: BriefArgs) -> u8 {
    let mut options = args.options;
    options.abstractive = switch(args.abstractive, args.no_abstractive);
    options.translate = switch(args.translate, args.no_translate);
    options.strict_pages = args.strict_pages.then_some(true);
    options.strict = args.strict.then_some(true);
    args.switches.apply(&mut options);
    let batch = args.out.map(|out| BatchOptions {
        inputs: args.inputs.clone(),
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
    });
    let request = commands::brief::Request {
        inputs: args.inputs,
        batch,
        config: args.switches.config,
        verbose: args.switches.verbose,
        quiet: args.quiet,
    };
    commands::brief::run(options, request)
}

fn main() -> ExitCode {
    #[cfg(all(feature = "model", target_os = "linux"))]
    without_huge_pages();
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Index { dir }) => commands::index::run(&dir),
        Some(Command::CheckEnglish { source, english }) => commands::check_english::run(&source, &english),
        Some(Command::Engine { action: EngineAction::Check { url, engine_model, timeout } }) => {
            commands::engine::check(&url, engine_model.as_deref(), std::time::Duration::from_secs_f64(timeout.max(0.1)))
        }
        Some(Command::Model { action: ModelAction::List }) => commands::model::list(),
        Some(Command::Model { action: ModelAction::Verify { name } }) => commands::model::verify(name.as_deref()),
        Some(Command::Model { action: ModelAction::Path { name } }) => commands::model::path(name.as_deref()),
        Some(Command::Translate(args)) => {
            let mut options = args.options;
            args.switches.apply(&mut options);
            commands::translate::run(&args.input, options, args.switches.config, args.switches.verbose)
        }
        #[cfg(feature = "model")]
        Some(Command::Bench(args)) => commands::bench::run(&commands::bench::BenchRequest {
            model: args.model,
            prompt_file: args.prompt_file,
            max_tokens: args.max_tokens,
            batch: usize::from(args.batch),
            prompt_lookup: args.prompt_lookup,
            json: args.format == Format::Json,
            offline: args.offline,
            requantize: !args.no_requantize,
        }),
        None => brief(cli.brief),
    };
    ExitCode::from(code)
}

//! The `zhbrief` command: parses flags, calls the library, maps the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};
use zhbrief::app::{self, ModelRequest, Pipeline, Settings};
use zhbrief::batch::{self, BatchOptions, ProgressMode, Shard};
use zhbrief::config::{self, FileConfig};
use zhbrief::error::{Error, Origin, exit};
use zhbrief::extract::{DEFAULT_KEYWORDS, ExtractOptions};
use zhbrief::input::{self, DEFAULT_MAX_INPUT_BYTES, ReadOptions, decode::encoding_for_label};
use zhbrief::llm::{self, Catalog, Sampling};
use zhbrief::render::Format;

/// mimalloc instead of the system allocator: a prompt batch dequantises each weight matrix into a
/// fresh f32 buffer (see `llm::qwen2`), tens of MB each, which glibc maps and unmaps from the
/// kernel on every call. mimalloc reuses the memory: back-translation scoring with the 1.5B model
/// went from 68 s to 47 s for one segment, with output byte for byte the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    Translate {
        /// A text file, or `-` for stdin.
        #[arg(default_value = "-")]
        input: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// List, verify or locate the known models.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Measure model load, prompt processing and generation speed.
    Bench {
        /// A model name or GGUF path [default: the default model].
        #[arg(short, long)]
        model: Option<String>,
        /// Text used as the prompt (as a user message in the model's chat template).
        #[arg(long, value_name = "FILE")]
        prompt_file: PathBuf,
        /// Tokens to generate.
        #[arg(long, default_value_t = 64)]
        max_tokens: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Markdown)]
        format: FormatArg,
        /// Never contact the hub.
        #[arg(long)]
        offline: bool,
        /// Measure the tensors as shipped, not the cached Q8_0 re-encoding of Q4_0/Q4_1/Q5_1 ones.
        #[arg(long)]
        no_requantize: bool,
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
    /// Check present model files against their manifest's size and SHA-256.
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

/// Flags of the model stage, shared by briefs and `translate`.
#[derive(Debug, Args, Clone)]
struct ModelArgs {
    /// Model name (see `zhbrief model list`) or path to a GGUF file.
    #[arg(short, long, value_name = "NAME|PATH", env = "ZHBRIEF_MODEL")]
    model: Option<String>,

    /// Never contact the Hugging Face hub (also: HF_HUB_OFFLINE=1).
    #[arg(long)]
    offline: bool,

    /// Folder of prompt templates overriding the built-in ones (see prompts/).
    #[arg(long, value_name = "DIR", env = "ZHBRIEF_PROMPTS")]
    prompts: Option<PathBuf>,

    /// Glossary for translation: TSV lines `中文<TAB>English`.
    #[arg(long, value_name = "FILE", env = "ZHBRIEF_GLOSSARY")]
    glossary: Option<PathBuf>,

    /// Sample with this temperature instead of greedy decoding (repeatable with --seed).
    #[arg(long, value_name = "T")]
    temperature: Option<f64>,

    /// Seed for sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Report model timings and faithfulness fallbacks on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// Candidate translations per sentence, the one the others agree with most kept (the first
    /// greedy, the rest sampled with fixed seeds: output stays deterministic). They are decoded
    /// together; 1 is fastest.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=16))]
    candidates: u16,

    /// Run the model's tensors as shipped, not through the cached Q8_0 re-encoding of any
    /// Q4_0/Q4_1/Q5_1 tensors (which run scalar on CPUs). The default models have none.
    #[arg(long)]
    no_requantize: bool,
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

    /// Add an abstractive Chinese summary written by the local model.
    #[arg(long)]
    abstractive: bool,

    /// Add an English translation of the brief (title, key points, summary).
    #[arg(long)]
    translate: bool,

    #[command(flatten)]
    model: ModelArgs,

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

    /// No progress, no streamed model text and no summary line (errors are still reported).
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
        Some(Command::Model { action }) => model(action),
        Some(Command::Translate { input, model }) => translate(&input, &model),
        Some(Command::Bench { model, prompt_file, max_tokens, format, offline, no_requantize }) => {
            bench(model, &prompt_file, max_tokens, format, offline, !no_requantize)
        }
        None => brief(cli.brief),
    };
    ExitCode::from(code)
}

fn fail(err: &Error) -> u8 {
    eprintln!("zhbrief: {err}");
    err.exit_code()
}

fn index(dir: &Path) -> u8 {
    if !dir.is_dir() {
        return fail(&Error::NotFound(Origin::File(dir.to_path_buf())));
    }
    match batch::write_index(dir) {
        Ok(count) => {
            eprintln!("zhbrief: indexed {count} briefs in {}", dir.join(batch::INDEX_FILE).display());
            exit::OK
        }
        Err(err) => fail(&err),
    }
}

fn model_request(args: &ModelArgs, file: &FileConfig, abstractive: bool, translate: bool, quiet: bool) -> ModelRequest {
    ModelRequest {
        abstractive,
        translate,
        model: args.model.clone().or(file.model.clone()),
        offline: args.offline,
        prompts: args.prompts.clone().or(file.prompts.clone()),
        glossary: args.glossary.clone().or(file.glossary.clone()),
        sampling: args.temperature.filter(|t| *t > 0.0).map(|temperature| Sampling { temperature, top_p: 0.95, seed: args.seed }),
        verbose: args.verbose,
        stream: !quiet,
        requantize: !args.no_requantize,
        translation_candidates: usize::from(args.candidates),
    }
}

fn brief(args: BriefArgs) -> u8 {
    let settings = match settings(&args) {
        Ok(settings) => settings,
        Err(err) => return fail(&err),
    };
    if args.inputs.is_empty() && std::io::stdin().is_terminal() {
        eprintln!("zhbrief: no input: give a file or folder, or pipe an article into stdin (see --help)");
        return exit::USAGE;
    }
    let mut settings = settings;
    if args.out.is_some() && settings.inputs.is_empty() {
        settings.inputs.push(PathBuf::from("-"));
    }
    let pipeline = match Pipeline::new(settings) {
        Ok(pipeline) => pipeline,
        Err(err) => return fail(&err),
    };
    let Some(out) = args.out else {
        return app::run(&pipeline);
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
    batch::run(&pipeline, &options, interrupted)
}

/// Resolves flags (and their ZHBRIEF_* variables) over the config file over defaults.
fn settings(args: &BriefArgs) -> Result<Settings, Error> {
    let file: FileConfig = config::load(args.config.as_deref())?;
    let encoding_label = args.encoding.clone().or(file.encoding.clone());
    let encoding = match encoding_label.as_deref() {
        None => None,
        Some(label) => Some(encoding_for_label(label).ok_or_else(|| Error::UnknownEncoding(label.into()))?),
    };
    let format = match args.format {
        Some(FormatArg::Markdown) => Format::Markdown,
        Some(FormatArg::Json) => Format::Json,
        None => file.format.unwrap_or_default(),
    };
    let abstractive = args.abstractive || file.abstractive.unwrap_or(false);
    let translate = args.translate || file.translate.unwrap_or(false);
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
        model: model_request(&args.model, &file, abstractive, translate, args.quiet),
    })
}

fn translate(input_path: &Path, args: &ModelArgs) -> u8 {
    let file = match config::load(None) {
        Ok(file) => file,
        Err(err) => return fail(&err),
    };
    let origin = if input_path.as_os_str() == "-" { Origin::Stdin } else { Origin::File(input_path.to_path_buf()) };
    let text = match input::read_bytes(&origin, DEFAULT_MAX_INPUT_BYTES).and_then(|bytes| input::decode_input(&origin, &bytes, None)) {
        Ok(decoded) => decoded.text,
        Err(err) => return fail(&err),
    };
    let mut request = model_request(args, &file, false, true, false);
    request.stream = false;
    let mut stage = match request.load_stage() {
        Ok(stage) => stage,
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
        return app::stdout_failed(err);
    }
    match result {
        Ok(()) => exit::OK,
        Err(err) => fail(&err),
    }
}

fn model(action: ModelAction) -> u8 {
    let catalog = Catalog::builtin();
    match action {
        ModelAction::List => {
            println!("{:<38} {:<20} {:>10}  path", "name", "use", "size");
            for spec in catalog.specs() {
                let mut uses = spec.recommended.clone();
                if spec.default {
                    uses.insert(0, "default".into());
                }
                let location = match llm::catalog::locate_cached(spec) {
                    Some(path) => path.display().to_string(),
                    None => format!("not fetched (scripts/fetch-model.sh {})", spec.name),
                };
                println!("{:<38} {:<20} {:>7} MB  {location}", spec.name, uses.join(","), spec.size / 1_000_000);
            }
            exit::OK
        }
        ModelAction::Path { name } => {
            let spec = match name.as_deref().map(|n| catalog.find(n)).unwrap_or(Some(catalog.default_model())) {
                Some(spec) => spec,
                None => return fail(&Error::ModelMissing(format!("unknown model `{}`", name.unwrap_or_default()))),
            };
            match llm::catalog::locate_cached(spec) {
                Some(path) => {
                    println!("{}", path.display());
                    exit::OK
                }
                None => fail(&Error::ModelMissing(format!(
                    "model {} is not on this machine; `scripts/fetch-model.sh {}` installs it as {}",
                    spec.name,
                    spec.name,
                    llm::catalog::cache_dir().join(&spec.file).display()
                ))),
            }
        }
        ModelAction::Verify { name } => {
            let mut code = exit::OK;
            let mut checked = 0;
            for spec in catalog.specs().iter().filter(|s| name.as_deref().is_none_or(|n| n == s.name)) {
                let Some(path) = llm::catalog::locate_cached(spec) else {
                    if name.is_some() {
                        return fail(&Error::ModelMissing(format!("model {} is not on this machine", spec.name)));
                    }
                    continue;
                };
                checked += 1;
                match llm::catalog::verify_file(spec, &path) {
                    Ok(()) => println!("ok       {}  {}", spec.name, path.display()),
                    Err(reason) => {
                        println!("MISMATCH {}  {}: {reason}", spec.name, path.display());
                        code = exit::DATA;
                    }
                }
            }
            if name.is_some() && checked == 0 {
                return fail(&Error::ModelMissing(format!("unknown model `{}`", name.unwrap_or_default())));
            }
            code
        }
    }
}

fn bench(model: Option<String>, prompt_file: &Path, max_tokens: usize, format: FormatArg, offline: bool, requantize: bool) -> u8 {
    let prompt = match std::fs::read_to_string(prompt_file) {
        Ok(prompt) => prompt,
        Err(source) => return fail(&Error::Read { origin: Origin::File(prompt_file.to_path_buf()), source }),
    };
    let model = model.unwrap_or_else(|| Catalog::builtin().default_model().name.clone());
    match zhbrief::bench::run(&model, offline, requantize, &prompt, max_tokens) {
        Ok(report) => {
            match format {
                FormatArg::Json => println!("{}", serde_json::to_string_pretty(&report).expect("report serialises")),
                FormatArg::Markdown => print!("{}", report.to_text()),
            }
            exit::OK
        }
        Err(err) => fail(&err),
    }
}

//! The `zhbrief` command: parses flags, calls the library, maps the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use zhbrief::app::{self, Settings};
use zhbrief::error::exit;
use zhbrief::extract::{DEFAULT_KEYWORDS, ExtractOptions};
use zhbrief::input::{DEFAULT_MAX_INPUT_BYTES, ReadOptions, decode::encoding_for_label};
use zhbrief::render::Format;

/// Turn Chinese news articles into short, faithful Markdown briefs.
///
/// Reads an article from a file, every article under a folder, or stdin (`-`, or nothing when
/// piped); plain text copied from a web page or HTML, in UTF-8, UTF-16, GB18030/GBK or Big5.
#[derive(Debug, Parser)]
#[command(name = "zhbrief", version, about, long_about)]
struct Cli {
    /// Article files, folders (searched recursively for .txt .md .html .htm), or `-` for stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Markdown)]
    format: FormatArg,

    /// Number of key points (default: 3 to 5, by article length).
    #[arg(short = 'n', long, value_name = "N")]
    sentences: Option<usize>,

    /// Character budget for all key points together.
    #[arg(long, value_name = "CHARS")]
    max_chars: Option<usize>,

    /// Number of keywords.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KEYWORDS)]
    keywords: usize,

    /// Read inputs in this encoding instead of detecting it (utf-8, gb18030, gbk, big5, utf-16le…).
    #[arg(long, value_name = "LABEL")]
    encoding: Option<String>,

    /// Refuse inputs larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_INPUT_BYTES)]
    max_input_bytes: u64,

    /// Worker threads (default: number of cores).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Markdown,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match settings(cli) {
        Ok(settings) => ExitCode::from(app::run(&settings)),
        Err(err) => {
            eprintln!("zhbrief: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn settings(cli: Cli) -> Result<Settings, zhbrief::Error> {
    let encoding = match cli.encoding.as_deref() {
        None => None,
        Some(label) => Some(encoding_for_label(label).ok_or_else(|| zhbrief::Error::UnknownEncoding(label.into()))?),
    };
    if cli.inputs.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("zhbrief: no input: give a file or folder, or pipe an article into stdin (see --help)");
        std::process::exit(exit::USAGE.into());
    }
    Ok(Settings {
        inputs: cli.inputs,
        read: ReadOptions { encoding, max_input_bytes: cli.max_input_bytes },
        extract: ExtractOptions { sentences: cli.sentences, max_chars: cli.max_chars, keywords: cli.keywords },
        format: match cli.format {
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Json => Format::Json,
        },
        jobs: cli.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    })
}

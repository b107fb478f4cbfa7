//! The subcommands of the `zhbrief` binary, one module each: each takes what its flags resolved
//! to, prints what it makes and returns the process exit code.

#[cfg(feature = "model")]
pub mod bench;
pub mod brief;
pub mod check_english;
pub mod engine;
pub mod index;
pub mod model;
pub mod translate;

use std::fmt::Display;
use std::io::{self, Write};

use crate::error::{Error, exit};
use crate::output;

/// Prints an error's one line on stderr and returns its exit code.
pub fn fail(err: &Error) -> u8 {
    eprintln!("zhbrief: {err}");
    err.exit_code()
}

/// A command's stdout, written line by line. `println!` panics once the reader has gone
/// (`zhbrief check-english … | head`); here the rest is dropped quietly instead, and any other
/// failure is reported once and becomes the exit code.
#[derive(Default)]
pub struct Stdout {
    closed: bool,
    failed: Option<u8>,
}

impl Stdout {
    /// Writes `line` and a newline, unless writing has stopped.
    pub fn line(&mut self, line: impl Display) {
        if self.closed {
            return;
        }
        if let Err(err) = writeln!(io::stdout().lock(), "{line}") {
            self.closed = true;
            if err.kind() != io::ErrorKind::BrokenPipe {
                self.failed = Some(output::stdout_failed(err));
            }
        }
    }

    /// The exit code: `code`, unless writing failed (a reader that went away is no failure).
    pub fn exit_code(self, code: u8) -> u8 {
        match self.failed {
            Some(failed) if code == exit::OK => failed,
            _ => code,
        }
    }
}

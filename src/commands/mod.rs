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

use crate::error::Error;

/// Prints an error's one line on stderr and returns its exit code.
pub fn fail(err: &Error) -> u8 {
    eprintln!("zhbrief: {err}");
    err.exit_code()
}

//! `zhbrief engine check URL`: what an OpenAI-compatible server offers the model stage.

use std::sync::Arc;
use std::time::Duration;

use super::{Stdout, fail};
use crate::error::exit;
use crate::llm::remote::{Connection, RemoteEngine};

/// Connects to `url`, probes it as a run would, and prints what works; exit 69 when it cannot be
/// used at all.
pub fn check(url: &str, model: Option<&str>, timeout: Duration) -> u8 {
    let connection = Connection::new(url, timeout, 1, Arc::default());
    let shown = connection.display_url();
    let engine = match RemoteEngine::connect(connection, model) {
        Ok(engine) => engine,
        Err(err) => return fail(&err),
    };
    let capabilities = engine.capabilities();
    let yes_no = |works: bool, yes: &str, no: &str| if works { format!("yes: {yes}") } else { format!("no: {no}") };
    let mut out = Stdout::default();
    out.line(format_args!("engine                        {shown}"));
    out.line(format_args!("model                         {}", engine.model()));
    out.line(format_args!("chat completions              yes"));
    out.line(format_args!(
        "Han-free English (grammar)    {}",
        yes_no(capabilities.grammar, "by construction", "checked, retried once, Han dropped")
    ));
    out.line(format_args!(
        "several choices (n)           {}",
        yes_no(capabilities.choices, "accepted", "each candidate is its own request, sent together")
    ));
    out.line(format_args!(
        "log-probabilities of text     {}",
        yes_no(capabilities.prompt_logprobs, "back-translation scoring", "candidates chosen by consensus alone")
    ));
    out.exit_code(exit::OK)
}

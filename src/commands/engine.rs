//! `zhbrief engine check URL`: what an OpenAI-compatible server offers the model stage.

use std::sync::Arc;
use std::time::Duration;

use super::fail;
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
    println!("engine                        {shown}");
    println!("model                         {}", engine.model());
    println!("chat completions              yes");
    println!("Han-free English (grammar)    {}", yes_no(capabilities.grammar, "by construction", "checked, retried once, Han dropped"));
    println!(
        "several choices (n)           {}",
        yes_no(capabilities.choices, "accepted", "each candidate is its own request, sent together")
    );
    println!(
        "log-probabilities of text     {}",
        yes_no(capabilities.prompt_logprobs, "back-translation scoring", "candidates chosen by consensus alone")
    );
    exit::OK
}

//! zhbrief turns Chinese news articles into short, faithful briefs.
//!
//! The pipeline is a chain of stages, each a module taking a typed value ([`types`]) and
//! returning the next: [`input`] (bytes → [`types::Article`]), [`segment`] (sentences, words),
//! [`extract`] (key points, keywords), [`model_stage`] (abstractive summary and translation by an
//! engine from [`llm`]), [`render`] (Markdown, JSON) and [`output`] (stdout, or a folder of
//! briefs). [`pipeline`] runs them for one input with the run's [`settings`]; [`commands`] are
//! the subcommands of the binary.

pub mod commands;
pub mod error;
pub mod extract;
pub mod input;
pub mod llm;
pub mod model_stage;
pub mod output;
pub mod pipeline;
pub mod render;
pub mod segment;
pub mod settings;
pub mod text;
pub mod types;

pub use error::{Error, Origin, Result};

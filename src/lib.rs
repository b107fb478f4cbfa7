//! zhbrief turns Chinese news articles into short, faithful briefs.
//!
//! The pipeline is a chain of stages, each a module taking a typed value and returning the next:
//! [`input`] (bytes → [`article::Article`]), [`segment`] (sentences, words), [`extract`] (key
//! points, keywords), [`model_stage`] (abstractive summary and translation by a local model, [`llm`]), [`brief`]
//! (the [`brief::Brief`]) and [`render`] (Markdown, JSON). [`app`]
//! drives them for the command line, [`batch`] for output folders and CI.

pub mod app;
pub mod article;
pub mod batch;
pub mod bench;
pub mod brief;
pub mod config;
pub mod consensus;
pub mod error;
pub mod extract;
pub mod facts;
pub mod glossary;
pub mod input;
pub mod llm;
pub mod model_stage;
pub mod prompts;
pub mod render;
pub mod segment;

pub use error::{Error, Origin, Result};

//! `zhbrief index DIR`: rebuild an output folder's `index.md` (after sharded runs).

use std::path::Path;

use super::fail;
use crate::error::{Error, Origin, exit};
use crate::output::batch;

/// Rebuilds `DIR/index.md` from the briefs in DIR; returns the exit code.
pub fn run(dir: &Path) -> u8 {
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

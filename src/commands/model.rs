//! `zhbrief model list|verify|path`: the known models, their files and their checksums.

use super::{Stdout, fail};
use crate::error::{Error, exit};
use crate::llm::Catalog;
use crate::llm::catalog::{cache_dir, locate_cached, verify_file};

/// Lists the known models: name, use, size and where the file is (or how to fetch it).
pub fn list() -> u8 {
    let (catalog, mut out) = (Catalog::builtin(), Stdout::default());
    out.line(format_args!("{:<38} {:<20} {:>10}  path", "name", "use", "size"));
    for spec in catalog.specs() {
        let mut uses = spec.recommended.clone();
        if spec.default {
            uses.insert(0, "default".into());
        }
        let location = match locate_cached(spec) {
            Some(path) => path.display().to_string(),
            None => format!("not fetched (scripts/fetch-model.sh {})", spec.name),
        };
        out.line(format_args!("{:<38} {:<20} {:>7} MB  {location}", spec.name, uses.join(","), spec.size / 1_000_000));
    }
    out.exit_code(exit::OK)
}

/// Prints the path of a model's file (the default model's without a name); exit 69 when it is
/// not on this machine.
pub fn path(name: Option<&str>) -> u8 {
    let catalog = Catalog::builtin();
    let Some(spec) = name.map_or(Some(catalog.default_model()), |n| catalog.find(n)) else {
        return fail(&Error::ModelMissing(format!("unknown model `{}`", name.unwrap_or_default())));
    };
    match locate_cached(spec) {
        Some(path) => {
            let mut out = Stdout::default();
            out.line(path.display());
            out.exit_code(exit::OK)
        }
        None => fail(&Error::ModelMissing(format!(
            "model {} is not on this machine; `scripts/fetch-model.sh {}` installs it as {}",
            spec.name,
            spec.name,
            cache_dir().join(&spec.file).display()
        ))),
    }
}

/// Checks the present model files (or the one named) against their manifests' size and SHA-256;
/// exit 65 on a mismatch.
pub fn verify(name: Option<&str>) -> u8 {
    let catalog = Catalog::builtin();
    if let Some(name) = name
        && catalog.find(name).is_none()
    {
        return fail(&Error::ModelMissing(format!("unknown model `{name}`")));
    }
    let (mut code, mut out) = (exit::OK, Stdout::default());
    for spec in catalog.specs().iter().filter(|s| name.is_none_or(|n| n == s.name)) {
        let Some(path) = locate_cached(spec) else {
            if name.is_some() {
                return fail(&Error::ModelMissing(format!("model {} is not on this machine", spec.name)));
            }
            continue;
        };
        match verify_file(spec, &path) {
            Ok(()) => out.line(format_args!("ok       {}  {}", spec.name, path.display())),
            Err(reason) => {
                out.line(format_args!("MISMATCH {}  {}: {reason}", spec.name, path.display()));
                code = exit::DATA;
            }
        }
    }
    out.exit_code(code)
}

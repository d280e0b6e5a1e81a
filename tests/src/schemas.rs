//! The JSON Schemas of the `--message-format json` documents (`docs/schemas/`), generated from
//! the output types of forge-core and the commands (see `forge_core::json`). The tidy test
//! compares them with the committed files, `cargo xtask docs` writes them through the
//! `forge-docs` binary, and the end-to-end tests validate real output against them.

use std::collections::BTreeMap;
use std::path::Path;

/// Where the schemas live, relative to the workspace root.
pub const SCHEMAS_DIR: &str = "docs/schemas";

/// Every document's schema name and JSON Schema, as the code generates them.
pub fn documents() -> Vec<(&'static str, serde_json::Value)> {
    let mut all = forge_core::json::schemas();
    all.extend(cargo_forge_deb::json::schemas());
    all.extend(cargo_forge_image::json::schemas());
    all.extend(cargo_forge_release::json::schemas());
    all.extend(cargo_forge_rpm::json::schemas());
    all
}

/// The files `docs/schemas/` must hold: file name → text.
pub fn generated() -> BTreeMap<String, String> {
    documents()
        .into_iter()
        .map(|(name, schema)| {
            (
                forge_core::json::schema_file_name(name),
                forge_core::json::schema_text(&schema),
            )
        })
        .collect()
}

/// The `.json` files committed under `docs/schemas/` of `root`: file name → text.
pub fn committed(root: &Path) -> BTreeMap<String, String> {
    let dir = root.join(SCHEMAS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, std::fs::read_to_string(&p).ok()?))
        })
        .collect()
}

/// The committed schema of a document, by its `"schema"` name.
pub fn committed_schema(root: &Path, name: &str) -> anyhow::Result<serde_json::Value> {
    let path = root
        .join(SCHEMAS_DIR)
        .join(forge_core::json::schema_file_name(name));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("no schema `{}` for `{name}`: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

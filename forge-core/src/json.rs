//! The documents of `--message-format json`, as a contract.
//!
//! Every JSON document a command prints on stdout is a type implementing [`Document`]: its
//! fields (snake_case; enum values spelled as the config spells them) plus a `"schema"` field,
//! `cargo-forge/<name>/v<N>`, added here when it is printed, so no document can go out without
//! one. The JSON Schema of each document is generated from the same type ([`schema_of`]) and
//! committed under `docs/schemas/` by `cargo xtask docs`; the end-to-end tests check that the
//! committed files are the generated ones and that real output validates against them.
//!
//! Versioning: adding a field or an enum value keeps `v1`; renaming or removing one, or changing
//! its type, makes the next version (`v2`) of that document.
//!
//! A failure in JSON mode ends with one [`ErrorDocument`] (`cargo-forge/error/v1`), printed by
//! [`crate::Shell::report_error`] for every command, so scripts read stdout the same way whether
//! the run worked or not.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// A document printed with `--message-format json`.
pub trait Document: Serialize + JsonSchema {
    /// `cargo-forge/<name>/v<N>`: the document's `"schema"` field and its schema's title.
    const SCHEMA: &'static str;
}

/// The JSON of a document: its fields and `"schema"`.
pub fn to_value<D: Document>(doc: &D) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(doc)?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("the document {} is not a JSON object", D::SCHEMA))?;
    object.insert("schema".into(), Value::String(D::SCHEMA.into()));
    Ok(value)
}

/// The JSON Schema (draft 2020-12) of a document, generated from its type: its `title` is the
/// schema name, and the `schema` property is required and constant.
pub fn schema_of<D: Document>() -> Value {
    // What the type serialises to (e.g. fields skipped when reading a plan back are there).
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<D>()
        .to_value();
    let name = D::SCHEMA;
    schema["title"] = Value::String(name.into());
    schema["properties"]["schema"] = serde_json::json!({
        "description": "The name and version of this document's schema.",
        "const": name,
    });
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    let mut names = vec![Value::String("schema".into())];
    names.extend(required.into_iter().filter(|r| r != "schema"));
    schema["required"] = Value::Array(names);
    schema
}

/// The file name of a document's schema under `docs/schemas/`: `cargo-forge/deb-plan/v1` →
/// `deb-plan.v1.json`.
pub fn schema_file_name(schema: &str) -> String {
    let mut parts = schema.trim_start_matches("cargo-forge/").rsplitn(2, '/');
    let version = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default().replace('/', "-");
    format!("{name}.{version}.json")
}

/// A schema as committed: pretty-printed, with a final newline.
pub fn schema_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a JSON value serialises");
    text.push('\n');
    text
}

/// The schema of every document forge-core prints (each command adds its own).
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        (ErrorDocument::SCHEMA, schema_of::<ErrorDocument>()),
        (
            crate::init::InitDocument::SCHEMA,
            schema_of::<crate::init::InitDocument>(),
        ),
    ]
}

/// How a run failed, printed last on stdout in JSON mode.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorDocument {
    /// The error, as the `error:` line says it.
    pub message: String,
    /// Its causes, outermost first (the `Caused by:` lines).
    pub causes: Vec<String>,
    /// What to do next (the `hint:` lines).
    pub hints: Vec<String>,
    /// The process's exit code (see the troubleshooting page of the book).
    pub exit_code: u8,
}

impl Document for ErrorDocument {
    const SCHEMA: &'static str = "cargo-forge/error/v1";
}

impl ErrorDocument {
    /// The document of an error: its chain of messages, hints and exit code.
    pub fn of(err: &anyhow::Error) -> ErrorDocument {
        ErrorDocument {
            message: err.to_string(),
            causes: err.chain().skip(1).map(|c| c.to_string()).collect(),
            hints: crate::exit::hints(err),
            exit_code: crate::exit::code_of(err),
        }
    }

    /// The document of a command line clap refused (printed before any shell exists).
    pub fn of_usage(message: &str, exit_code: u8) -> ErrorDocument {
        let mut lines = message.trim().lines();
        let first = lines.next().unwrap_or_default();
        ErrorDocument {
            message: first.trim_start_matches("error: ").to_string(),
            causes: Vec::new(),
            hints: lines
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| l.trim_start_matches("tip: ").to_string())
                .collect(),
            exit_code,
        }
    }
}

/// Parses a command line with clap, as each command's `main_with_args` does: help and version
/// are printed by clap (exit 0); a refused command line exits 2 with clap's message on stderr
/// and, when `--message-format json` is among the arguments, its [`ErrorDocument`] on stdout.
pub fn parse_args<P: clap::Parser>(args: Vec<std::ffi::OsString>) -> P {
    P::try_parse_from(&args).unwrap_or_else(|e| {
        if e.use_stderr() && wants_json(&args) {
            let shell = crate::Shell::new(
                crate::shell::Verbosity::Normal,
                crate::shell::ColorChoice::Never,
                crate::shell::MessageFormat::Json,
            );
            let code = u8::try_from(e.exit_code()).unwrap_or(2);
            let _ = shell.json(&ErrorDocument::of_usage(&e.to_string(), code));
        }
        e.exit()
    })
}

/// Whether a command line asks for `--message-format json` (read before clap accepted it).
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1).map(Some).chain([None]))
        .any(|(a, next)| {
            a == "--message-format=json"
                || (a == "--message-format" && next.is_some_and(|n| n == "json"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResultExt;

    #[test]
    fn error_document_holds_the_chain_hints_and_code() {
        let err = Err::<(), _>(anyhow::anyhow!("no such file"))
            .map_err(|e| e.context("failed to read `Cargo.toml`"))
            .kind(crate::ErrorKind::Usage)
            .hint("run it in a crate")
            .unwrap_err();
        let v = to_value(&ErrorDocument::of(&err)).unwrap();
        assert_eq!(v["schema"], "cargo-forge/error/v1");
        assert_eq!(v["message"], "failed to read `Cargo.toml`");
        assert_eq!(v["causes"], serde_json::json!(["no such file"]));
        assert_eq!(v["hints"], serde_json::json!(["run it in a crate"]));
        assert_eq!(v["exit_code"], 2);
    }

    #[test]
    fn schema_names_the_document_and_requires_its_name() {
        let s = schema_of::<ErrorDocument>();
        assert_eq!(s["title"], "cargo-forge/error/v1");
        assert_eq!(s["properties"]["schema"]["const"], "cargo-forge/error/v1");
        assert_eq!(s["required"][0], "schema");
        assert!(s["required"]
            .as_array()
            .unwrap()
            .contains(&Value::from("exit_code")));
    }

    #[test]
    fn schema_file_names() {
        assert_eq!(
            schema_file_name("cargo-forge/deb-plan/v1"),
            "deb-plan.v1.json"
        );
        assert_eq!(schema_file_name("cargo-forge/error/v1"), "error.v1.json");
    }

    #[test]
    fn usage_errors_of_clap() {
        let d = ErrorDocument::of_usage(
            "error: unexpected argument '--frob' found\n\n  tip: to pass '--frob' as a value, use '-- --frob'\n\nUsage: cargo forge-deb [OPTIONS]\n\nFor more information, try '--help'.\n",
            2,
        );
        assert_eq!(d.message, "unexpected argument '--frob' found");
        assert_eq!(d.hints[0], "to pass '--frob' as a value, use '-- --frob'");
        assert_eq!(d.exit_code, 2);
    }

    #[test]
    fn json_mode_is_read_from_the_raw_command_line() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(wants_json(&args(&["x", "--message-format", "json"])));
        assert!(wants_json(&args(&["x", "--message-format=json", "--frob"])));
        assert!(!wants_json(&args(&["x", "--message-format", "human"])));
        assert!(!wants_json(&args(&["x", "--message-format"])));
    }
}

//! `init`: a commented starter table written into a package's Cargo.toml.
//!
//! `cargo forge-deb init`, `cargo forge-image init` and `cargo forge-release init` share this
//! module; each command crate only renders its table. The table is rendered as TOML *text*,
//! because the comments are the point of a starter configuration and reading them in one block
//! beats scattering them over toml_edit's key decorations. This module then checks that the text
//! parses and loads with the command's own configuration type (so `init` can never write a
//! config the command rejects), grafts the table into the manifest with `toml_edit` (every other
//! byte of the file is kept: comments, order, formatting), and writes the file atomically.
//!
//! An existing table is never overwritten without `--force`; `--dry-run` prints the text instead.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cargo_metadata::Package;
use clap::Args;
use toml_edit::{DocumentMut, Item, Table};

use crate::cli::OutputArgs;
use crate::exit::{usage, ErrorKind, ResultExt};
use crate::project::{Project, ProjectRequest};
use crate::shell::{Shell, Verbosity};
use crate::toolchain::Toolchain;

/// Flags of the three `init` subcommands.
#[derive(Clone, Debug, Default, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub manifest: clap_cargo::Manifest,
    /// The workspace member to configure (default: the package in the current directory)
    #[arg(short, long, value_name = "SPEC")]
    pub package: Option<String>,
    /// Replace the table if Cargo.toml already has it (its current content is lost)
    #[arg(long)]
    pub force: bool,
    /// Print the starter table on stdout instead of writing Cargo.toml
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a command writes: one table, as commented TOML text.
#[derive(Clone, Debug)]
pub struct Starter {
    /// The table's path, e.g. `["package", "metadata", "deb"]`.
    pub table: Vec<&'static str>,
    /// The TOML text: comments, the `[table]` header and its keys. It must hold this one table
    /// and nothing else.
    pub text: String,
    /// The command to run next, for the hint (e.g. "cargo forge-deb").
    pub next: String,
}

impl Starter {
    /// `package.metadata.deb`.
    pub fn dotted(&self) -> String {
        self.table.join(".")
    }

    /// The table as JSON, as `cargo metadata` would show it (for loading with a config type).
    /// Also checks the text's shape: comments after the last key would belong to whatever
    /// follows the table in Cargo.toml, so the text must end with a key.
    pub fn value(&self) -> Result<serde_json::Value> {
        let doc: DocumentMut = self
            .text
            .parse()
            .with_context(|| format!("the starter `[{}]` is not valid TOML", self.dotted()))?;
        let trailing = doc.trailing().as_str().unwrap_or_default();
        anyhow::ensure!(
            trailing.trim().is_empty(),
            "the starter `[{}]` ends with comments (`{}`): end it with a key",
            self.dotted(),
            trailing.trim()
        );
        let parsed: toml::Table = toml::from_str(&self.text)
            .with_context(|| format!("the starter `[{}]` is not valid TOML", self.dotted()))?;
        let mut v = serde_json::to_value(parsed)?;
        for key in &self.table {
            v = v
                .get_mut(*key)
                .map(serde_json::Value::take)
                .with_context(|| format!("the starter text has no `[{}]`", self.dotted()))?;
        }
        Ok(v)
    }
}

/// The result of a run, for `--message-format json` (`cargo-forge/init/v1`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct InitDocument {
    /// The package's Cargo.toml.
    pub manifest: PathBuf,
    /// The table, dotted: `package.metadata.deb`.
    pub table: String,
    /// What was done.
    pub action: InitAction,
    /// The starter table as TOML text (comments included).
    pub toml: String,
}

impl crate::json::Document for InitDocument {
    const SCHEMA: &'static str = "cargo-forge/init/v1";
}

/// What `init` did with the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InitAction {
    /// Written into a Cargo.toml that had no such table.
    Created,
    /// Written over the existing table (`--force`).
    Replaced,
    /// Printed only (`--dry-run`).
    DryRun,
}

/// Runs `init`: selects the package, renders its starter table with `render`, checks it with
/// `check` (the command's config type, given the table value and the manifest path), and writes
/// it into the package's Cargo.toml (or prints it with `--dry-run`).
pub fn run(
    args: &InitArgs,
    shell: &Shell,
    render: impl FnOnce(&Project, &Package) -> Result<Starter>,
    check: impl FnOnce(&serde_json::Value, &Path) -> Result<()>,
) -> Result<()> {
    let mut workspace = clap_cargo::Workspace::default();
    workspace.package = args.package.iter().cloned().collect();
    let request = ProjectRequest {
        manifest_path: args.manifest.manifest_path.clone(),
        workspace,
        ..Default::default()
    };
    let toolchain = Toolchain::resolve(None, shell)?;
    let project = Project::load(&request, &toolchain, shell)?;
    let pkg = project.single_package("`init` writes the configuration of one package")?;
    let manifest = pkg.manifest_path.clone().into_std_path_buf();
    let starter = render(&project, pkg)?;
    // A starter the command itself rejects is a bug here, not bad input.
    check(&starter.value()?, &manifest)
        .with_context(|| format!("the starter `[{}]` does not load", starter.dotted()))?;

    let text = crate::fsx::read_to_string(&manifest)?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("failed to parse `{}`", manifest.display()))
        .kind(ErrorKind::Usage)?;
    let exists = lookup(doc.as_item(), &starter.table).is_some();
    let shown = shown_path(&manifest);
    let table = format!("[{}]", starter.dotted());

    if args.dry_run {
        if exists {
            shell.note(format!(
                "`{shown}` already has {table}: writing this needs `--force`"
            ));
        }
        if shell.is_json() {
            return shell.json(&report(&manifest, &starter, InitAction::DryRun));
        }
        shell.data(starter.text.trim());
        return Ok(());
    }
    if exists && !args.force {
        return Err(usage(format!("`{shown}` already has {table}")))
            .hint("pass `--force` to replace it with the starter table (its current content is lost), or `--dry-run` to print the starter table");
    }
    graft(&mut doc, &starter)?;
    crate::fsx::write_atomic(&manifest, doc.to_string().as_bytes())?;
    let action = if exists {
        InitAction::Replaced
    } else {
        InitAction::Created
    };
    if shell.is_json() {
        shell.json(&report(&manifest, &starter, action))?;
    }
    shell.status(
        if exists { "Replaced" } else { "Created" },
        format!("{table} in {shown}"),
    );
    if shell.verbosity() >= Verbosity::Normal {
        shell.hint(format!(
            "review the table, then run `{}{}`",
            starter.next,
            selection_flags(args)
        ));
    }
    Ok(())
}

fn report(manifest: &Path, starter: &Starter, action: InitAction) -> InitDocument {
    InitDocument {
        manifest: manifest.to_path_buf(),
        table: starter.dotted(),
        action,
        toml: starter.text.clone(),
    }
}

/// `-p NAME` / `--manifest-path PATH` as given, so the suggested command works from here.
fn selection_flags(args: &InitArgs) -> String {
    let mut s = String::new();
    if let Some(p) = &args.manifest.manifest_path {
        s.push_str(&format!(" --manifest-path {}", p.display()));
    }
    if let Some(p) = &args.package {
        s.push_str(&format!(" -p {p}"));
    }
    s
}

/// The manifest relative to the current directory when below it, else absolute.
fn shown_path(manifest: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) => crate::fsx::display_relative(manifest, &cwd),
        Err(_) => manifest.display().to_string(),
    }
}

/// The item at `path`, whatever its form (`[a.b]`, `b = { … }`, dotted keys).
fn lookup<'a>(item: &'a Item, path: &[&str]) -> Option<&'a Item> {
    match path.split_first() {
        None => Some(item),
        Some((first, rest)) => item
            .as_table_like()
            .and_then(|t| t.get(first))
            .and_then(|i| lookup(i, rest)),
    }
}

/// Puts the starter's table into `doc`: in the place of the table it replaces, else after the
/// last table of the file. Parents that do not exist are created implicit (no header of their
/// own), so nothing but the new table appears in the file.
fn graft(doc: &mut DocumentMut, starter: &Starter) -> Result<()> {
    let mut snippet: DocumentMut = starter
        .text
        .parse()
        .with_context(|| format!("the starter `[{}]` is not valid TOML", starter.dotted()))?;
    let (last, parents) = starter
        .table
        .split_last()
        .context("the starter names no table")?;
    let mut new = take_table(snippet.as_table_mut(), &starter.table)
        .with_context(|| format!("the starter text has no `[{}]`", starter.dotted()))?;
    let end = max_position(doc.as_table()).map_or(0, |p| p + 1);

    let mut parent: &mut Table = doc.as_table_mut();
    for (depth, key) in parents.iter().enumerate() {
        let here = starter.table[..=depth].join(".");
        let item = parent.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        if let Item::Value(toml_edit::Value::InlineTable(_)) = item {
            // `metadata = { … }`: a standard table cannot live inside an inline one.
            let inline = std::mem::take(item);
            *item = Item::Table(inline.into_table().unwrap_or_default());
        }
        parent = item.as_table_mut().ok_or_else(|| {
            crate::exit::with_hint(
                usage(format!("`{here}` is not a table")),
                format!(
                    "`[{}]` goes inside `{here}`: make it a table, or remove it",
                    starter.dotted()
                ),
            )
        })?;
    }
    let position = match parent.remove(last) {
        Some(Item::Table(old)) => old.position(),
        _ => None,
    };
    renumber(&mut new, position.unwrap_or(end));
    parent.insert(last, Item::Table(new));
    if position.is_none() {
        // Appended: blank lines that ended the file now come before the new table (whose text
        // starts with its own separating newline), so the old bytes stay a prefix of the file.
        let trailing = doc.trailing().as_str().unwrap_or_default().to_string();
        if !trailing.is_empty() && trailing.trim().is_empty() {
            let item = lookup_mut(doc.as_table_mut(), &starter.table);
            if let Some(t) = item.and_then(Item::as_table_mut) {
                let prefix = t.decor().prefix().and_then(|p| p.as_str()).unwrap_or("");
                let prefix = format!("{trailing}{}", prefix.trim_start_matches('\n'));
                t.decor_mut().set_prefix(prefix);
                doc.set_trailing("");
            }
        }
    }
    Ok(())
}

fn lookup_mut<'a>(table: &'a mut Table, path: &[&str]) -> Option<&'a mut Item> {
    let (first, rest) = path.split_first()?;
    let item = table.get_mut(first)?;
    if rest.is_empty() {
        return Some(item);
    }
    lookup_mut(item.as_table_mut()?, rest)
}

fn take_table(root: &mut Table, path: &[&str]) -> Option<Table> {
    let (last, parents) = path.split_last()?;
    let mut t = root;
    for key in parents {
        t = t.get_mut(key)?.as_table_mut()?;
    }
    match t.remove(last)? {
        Item::Table(table) => Some(table),
        _ => None,
    }
}

/// The largest document position of any table below `table`.
fn max_position(table: &Table) -> Option<usize> {
    let own = table.position();
    let children = table.iter().filter_map(|(_, item)| match item {
        Item::Table(t) => max_position(t),
        Item::ArrayOfTables(a) => a.iter().filter_map(max_position).max(),
        _ => None,
    });
    own.into_iter().chain(children).max()
}

/// Gives `table` and every table below it `position`, so they print together, in order.
fn renumber(table: &mut Table, position: usize) {
    table.set_position(position);
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => renumber(t, position),
            Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| renumber(t, position)),
            _ => {}
        }
    }
}

/// A TOML string literal (basic string, escaped), for rendering starter tables.
pub fn toml_str(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

/// A one-line TOML array of strings.
pub fn toml_str_array<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| toml_str(s.as_ref())).collect();
    format!("[{}]", inner.join(", "))
}

/// The package directory (for paths relative to the package).
pub fn package_dir(pkg: &Package) -> PathBuf {
    pkg.manifest_path
        .parent()
        .map(|p| p.as_std_path().to_path_buf())
        .unwrap_or_default()
}

/// `owner/name` of a GitHub repository URL (`https://github.com/owner/name(.git)`).
pub fn github_repo(url: &str) -> Option<String> {
    let rest = url
        .trim()
        .strip_prefix("https://github.com/")
        .or_else(|| url.trim().strip_prefix("http://github.com/"))?;
    let mut parts = rest.trim_end_matches('/').split('/');
    let owner = parts.next().filter(|s| !s.is_empty())?;
    let name = parts.next().filter(|s| !s.is_empty())?;
    let name = name.strip_suffix(".git").unwrap_or(name);
    Some(format!("{owner}/{name}"))
}

/// Every commented example (`# key = value` on one line) of a starter text, parsed as a
/// one-key table: the command crates' tests load each with their config type, so a commented
/// key is as real as a written one.
pub fn commented_examples(text: &str) -> Vec<(String, serde_json::Value)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
        })
        .map(|l| {
            let t: toml::Table = toml::from_str(l)
                .unwrap_or_else(|e| panic!("commented example `{l}` is not TOML: {e}"));
            (
                l.to_string(),
                serde_json::to_value(t).expect("toml to json"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter(text: &str) -> Starter {
        Starter {
            table: vec!["package", "metadata", "deb"],
            text: text.into(),
            next: "cargo forge-deb".into(),
        }
    }

    const START: &str = "[package]\nname = \"x\" # the name\n\n# keep out\n[workspace]\n\n[dependencies]\nserde = \"1\"\n";

    #[test]
    fn appends_after_the_last_table_keeping_every_byte() {
        let mut doc: DocumentMut = START.parse().unwrap();
        graft(
            &mut doc,
            &starter("\n# about\n[package.metadata.deb]\n# why\nsection = \"utils\"\n"),
        )
        .unwrap();
        let out = doc.to_string();
        assert!(out.starts_with(START), "{out}");
        assert_eq!(
            &out[START.len()..],
            "\n# about\n[package.metadata.deb]\n# why\nsection = \"utils\"\n"
        );
    }

    #[test]
    fn blank_lines_ending_the_file_stay_where_they_are() {
        let text = "[package]\nname = \"x\"\n\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        graft(
            &mut doc,
            &starter("\n# about\n[package.metadata.deb]\nsection = \"c\"\n"),
        )
        .unwrap();
        assert_eq!(
            doc.to_string(),
            "[package]\nname = \"x\"\n\n# about\n[package.metadata.deb]\nsection = \"c\"\n"
        );
    }

    #[test]
    fn replaces_in_place_with_sub_tables() {
        let text = "[package]\nname = \"x\"\n\n[package.metadata.deb]\nsection = \"a\"\n\n[package.metadata.deb.variants.v]\nsection = \"b\"\n\n[dependencies]\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        assert!(lookup(doc.as_item(), &["package", "metadata", "deb"]).is_some());
        graft(
            &mut doc,
            &starter("\n[package.metadata.deb]\nsection = \"c\"\n"),
        )
        .unwrap();
        assert_eq!(
            doc.to_string(),
            "[package]\nname = \"x\"\n\n[package.metadata.deb]\nsection = \"c\"\n\n[dependencies]\n"
        );
    }

    #[test]
    fn existing_parent_tables_and_inline_forms() {
        let text = "[package]\nname = \"x\"\n\n[package.metadata.forge]\nbackend = \"cargo\"\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        let s = Starter {
            table: vec!["package", "metadata", "forge", "image"],
            text: "\n[package.metadata.forge.image]\nbase = \"scratch\"\n".into(),
            next: String::new(),
        };
        graft(&mut doc, &s).unwrap();
        assert_eq!(doc.to_string(), format!("{text}{}", s.text));

        let text = "[package]\nname = \"x\"\nmetadata = { other = 1 }\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        graft(
            &mut doc,
            &starter("[package.metadata.deb]\nsection = \"c\"\n"),
        )
        .unwrap();
        let v: toml::Table = toml::from_str(&doc.to_string()).unwrap();
        assert_eq!(v["package"]["metadata"]["other"].as_integer(), Some(1));
        assert_eq!(
            v["package"]["metadata"]["deb"]["section"].as_str(),
            Some("c")
        );
        let doc: DocumentMut = "[package]\nmetadata.deb.section = \"a\"\n".parse().unwrap();
        assert!(lookup(doc.as_item(), &["package", "metadata", "deb"]).is_some());
    }

    #[test]
    fn starter_must_end_with_a_key() {
        let err = starter("[package.metadata.deb]\nsection = \"a\"\n# lost\n")
            .value()
            .unwrap_err();
        assert!(err.to_string().contains("end it with a key"), "{err}");
    }

    #[test]
    fn starter_value_and_quoting() {
        let s = starter("# c\n[package.metadata.deb]\nmaintainer = \"A \\\"B\\\" <a@b>\"\n");
        assert_eq!(
            s.value().unwrap(),
            serde_json::json!({"maintainer": "A \"B\" <a@b>"})
        );
        for tricky in ["a\"b\\c", "it's", "line\nbreak", "plain"] {
            let t: toml::Table = toml::from_str(&format!("k = {}", toml_str(tricky))).unwrap();
            assert_eq!(t["k"].as_str(), Some(tricky));
        }
        assert_eq!(toml_str("plain"), "\"plain\"");
        assert_eq!(toml_str_array(&["x", "y"]), r#"["x", "y"]"#);
        assert_eq!(
            github_repo("https://github.com/acme/app.git").as_deref(),
            Some("acme/app")
        );
        assert_eq!(github_repo("https://gitlab.com/acme/app"), None);
        let ex = commented_examples("# prose, not = an example\n# user = \"0\"\n# base = \"x\"");
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].1, serde_json::json!({"user": "0"}));
    }
}

//! The configuration reference, rendered from the config types themselves.
//!
//! Every config table (`[package.metadata.deb]`, `[*.metadata.forge]` and its `deb`, `image` and
//! `release` sub-tables) derives `schemars::JsonSchema`; its `///` doc comments become the
//! schema's descriptions, and its serde attributes (`rename_all`, untagged and tagged enums,
//! `deny_unknown_fields`) decide the key names and types. [`render`] turns those schemas into the
//! markdown page of the book (docs/src/reference/config.md), so the page cannot drift from the
//! code: the tidy test regenerates it and compares. Written by hand because the schema-to-markdown
//! tools on crates.io render whole JSON-Schema documents (with `$defs`, `anyOf` noise) rather than
//! TOML tables keyed the way users write them.

use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value};

/// One TOML table of the reference.
pub struct Table {
    /// Where it lives, e.g. `package.metadata.deb`.
    pub path: String,
    /// Other places the same table is read from, e.g. `workspace.metadata.forge.image`.
    pub also: Vec<String>,
    /// Markdown paragraph(s) shown under the heading.
    pub intro: String,
    /// The JSON schema of the table's type.
    pub schema: Schema,
}

impl Table {
    /// The table of type `T` at `path`.
    pub fn of<T: JsonSchema>(path: &str, also: &[&str], intro: &str) -> Table {
        Table {
            path: path.to_owned(),
            also: also.iter().map(|s| s.to_string()).collect(),
            intro: intro.trim().to_owned(),
            schema: schema_for::<T>(),
        }
    }
}

/// The schema of `T` as deserialised (what users may write), draft 2020-12 with `$defs`.
pub fn schema_for<T: JsonSchema>() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// A rendered reference.
pub struct Rendered {
    /// The markdown.
    pub markdown: String,
    /// Keys without a description (`table.key`): every key must have a doc comment.
    pub undocumented: Vec<String>,
}

/// Renders `tables` as one markdown section each, after `preamble`.
pub fn render(preamble: &str, tables: &[Table]) -> Rendered {
    let mut r = Renderer {
        out: String::new(),
        undocumented: Vec::new(),
    };
    r.out.push_str(preamble.trim());
    r.out.push_str("\n\n");
    for t in tables {
        r.table(t);
    }
    let markdown = r.out.trim_end().to_owned() + "\n";
    Rendered {
        markdown,
        undocumented: r.undocumented,
    }
}

struct Renderer {
    out: String,
    undocumented: Vec<String>,
}

/// Resolves `$ref`s against the root schema's `$defs`.
struct Ctx<'a> {
    root: &'a Value,
    table: &'a str,
}

impl<'a> Ctx<'a> {
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        for _ in 0..16 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix("#/$defs/") {
                    Some(name) => match self.root.pointer(&format!("/$defs/{name}")) {
                        Some(def) => s = def,
                        None => return s,
                    },
                    None if r == "#" => s = self.root,
                    None => return s,
                },
                None => return s,
            }
        }
        s
    }

    /// The alternatives of a schema, without `null` (an `Option` is just optional in TOML).
    fn alternatives(&self, schema: &'a Value) -> Vec<&'a Value> {
        let s = self.resolve(schema);
        for key in ["anyOf", "oneOf"] {
            if let Some(items) = s.get(key).and_then(Value::as_array) {
                return items
                    .iter()
                    .filter(|i| i.get("type").and_then(Value::as_str) != Some("null"))
                    .flat_map(|i| self.alternatives(i))
                    .collect();
            }
        }
        vec![s]
    }

    /// A short type for the reader: `string`, `array of string`, `table`, `"a" or "b"`.
    fn type_name(&self, schema: &'a Value) -> String {
        let alts = self.alternatives(schema);
        let mut names: Vec<String> = Vec::new();
        for a in alts {
            let n = self.single_type(a);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names.join(" or ")
    }

    fn single_type(&self, s: &'a Value) -> String {
        if s.as_bool() == Some(true) || s.as_object().is_some_and(|o| o.is_empty()) {
            return "any".into();
        }
        if let Some(c) = s.get("const") {
            return format!("`{c}`");
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            let v: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            return v.join(" or ");
        }
        let types: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect(),
            _ => Vec::new(),
        };
        let mut names = Vec::new();
        for t in types {
            names.push(match t {
                "array" => self.array_type(s),
                "object" => {
                    if s.get("properties").is_some() {
                        "table".to_owned()
                    } else if let Some(v) = s
                        .get("additionalProperties")
                        .filter(|v| v.as_bool() != Some(true))
                    {
                        format!("table of {}", self.type_name(v))
                    } else {
                        "table".to_owned()
                    }
                }
                "integer" => match s.get("minimum").and_then(Value::as_i64) {
                    Some(0) => "integer (≥ 0)".to_owned(),
                    _ => "integer".to_owned(),
                },
                other => other.to_owned(),
            });
        }
        if names.is_empty() {
            "any".into()
        } else {
            names.join(" or ")
        }
    }

    fn array_type(&self, s: &'a Value) -> String {
        if let Some(prefix) = s.get("prefixItems").and_then(Value::as_array) {
            let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let parts: Vec<String> = prefix
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let name = p
                        .get("title")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| self.type_name(p));
                    if i >= min {
                        format!("{name}?")
                    } else {
                        name
                    }
                })
                .collect();
            return format!("`[{}]`", parts.join(", "));
        }
        match s.get("items") {
            Some(items) => format!("array of {}", self.type_name(items)),
            None => "array".to_owned(),
        }
    }

    /// The tables (objects with keys) a value of this schema may contain, for nested key lists:
    /// through `Option`, arrays, maps and untagged alternatives. Tagged enums give one per variant.
    fn nested_tables(&self, schema: &'a Value, depth: usize) -> Vec<&'a Value> {
        let mut found: Vec<&'a Value> = Vec::new();
        if depth > 3 {
            return found;
        }
        for a in self.alternatives(schema) {
            let candidates: Vec<&'a Value> = if a.get("properties").is_some() {
                vec![a]
            } else if let Some(items) = a.get("items") {
                self.nested_tables(items, depth + 1)
            } else {
                Vec::new()
            };
            for c in candidates {
                if !found.iter().any(|f| std::ptr::eq(*f, c)) {
                    found.push(c);
                }
            }
        }
        found
    }
}

impl Renderer {
    fn table(&mut self, t: &Table) {
        let root = t.schema.as_value();
        let ctx = Ctx {
            root,
            table: &t.path,
        };
        self.out.push_str(&format!("## `[{}]`\n\n", t.path));
        if !t.also.is_empty() {
            let also: Vec<String> = t.also.iter().map(|a| format!("`[{a}]`")).collect();
            self.out
                .push_str(&format!("Also read from {}.\n\n", also.join(", ")));
        }
        if !t.intro.is_empty() {
            self.out.push_str(&t.intro);
            self.out.push_str("\n\n");
        }
        if root.get("additionalProperties") == Some(&Value::Bool(false)) {
            self.out
                .push_str("Unknown keys are rejected (exit code 2, naming the key).\n\n");
        }
        let Some(props) = root.get("properties").and_then(Value::as_object) else {
            return;
        };
        let required = required_keys(root);
        for (key, prop) in props {
            let full = format!("{}.{key}", t.path);
            self.out.push_str(&format!("### `{full}`\n\n"));
            self.out.push_str(&format!("Type: {}", ctx.type_name(prop)));
            if required.contains(&key.as_str()) {
                self.out.push_str(" (required)");
            }
            if let Some(d) = prop.get("default") {
                self.out.push_str(&format!(", default `{d}`"));
            }
            self.out.push_str("\n\n");
            match description(prop) {
                Some(d) => {
                    self.out.push_str(&d);
                    self.out.push_str("\n\n");
                }
                None => self.undocumented.push(full.clone()),
            }
            // Nested tables: their keys in a table under the key; a type that contains itself
            // (`variants`) is described by its doc comment instead.
            let nested = ctx.nested_tables(prop, 0);
            for n in nested {
                if std::ptr::eq(n, root) {
                    continue;
                }
                self.nested(&ctx, &full, n, nested_count(&ctx, prop) > 1);
            }
        }
    }

    fn nested(&mut self, ctx: &Ctx<'_>, parent: &str, obj: &Value, several: bool) {
        let Some(props) = obj.get("properties").and_then(Value::as_object) else {
            return;
        };
        let required = required_keys(obj);
        // A tagged variant: its tag is the `const` key; show it as the table's title.
        let tag = props
            .iter()
            .find(|(_, v)| v.get("const").is_some())
            .map(|(k, v)| format!("{k} = {}", v["const"]));
        if several || tag.is_some() {
            let title = tag
                .clone()
                .or_else(|| obj.get("title").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "one form".to_owned());
            self.out.push_str(&format!("**`{title}`**"));
            if let Some(d) = description(obj) {
                self.out.push_str(&format!(": {}", one_line(&d)));
            }
            self.out.push_str("\n\n");
        }
        self.out
            .push_str("| Key | Type | Description |\n| --- | --- | --- |\n");
        for (key, prop) in props {
            if prop.get("const").is_some() {
                continue;
            }
            let mut ty = ctx.type_name(prop);
            if required.contains(&key.as_str()) {
                ty.push_str(" (required)");
            }
            let desc = match description(prop) {
                Some(d) => one_line(&d),
                None => {
                    let name = match &tag {
                        Some(t) => format!("{parent}[{t}].{key}"),
                        None => format!("{parent}.{key}"),
                    };
                    self.undocumented.push(format!("{name} (in {})", ctx.table));
                    String::new()
                }
            };
            self.out
                .push_str(&format!("| `{key}` | {} | {} |\n", cell(&ty), cell(&desc)));
        }
        self.out.push('\n');
    }
}

fn nested_count(ctx: &Ctx<'_>, prop: &Value) -> usize {
    ctx.nested_tables(prop, 0).len()
}

fn required_keys(obj: &Value) -> Vec<&str> {
    obj.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn description(s: &Value) -> Option<String> {
    s.get("description")
        .and_then(Value::as_str)
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
}

/// Paragraphs joined into one line (for a table cell).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Escapes `|` for a GFM table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Names of the keys of `T`'s table, as users write them (tests use it to check coverage).
pub fn keys_of<T: JsonSchema>() -> Vec<String> {
    let schema = schema_for::<T>();
    schema
        .as_value()
        .get("properties")
        .and_then(Value::as_object)
        .map(|p: &Map<String, Value>| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A sample table.
    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        /// The name. Default: the crate's.
        package_name: Option<String>,
        /// Nested.
        inner: Option<Vec<Inner>>,
        undocumented_key: Option<bool>,
        /// A choice.
        choice: Option<Choice>,
    }

    /// One inner table.
    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        /// A path | with a bar.
        path: String,
        mode: Option<u32>,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Choice {
        Auto,
        Cargo,
    }

    #[test]
    fn renders_keys_types_nested_tables_and_reports_undocumented() {
        let r = render(
            "# Reference",
            &[Table::of::<Sample>("package.metadata.x", &[], "Intro.")],
        );
        let md = &r.markdown;
        assert!(md.starts_with("# Reference\n\n## `[package.metadata.x]`\n\nIntro."));
        assert!(md.contains("Unknown keys are rejected"));
        assert!(md.contains("### `package.metadata.x.package-name`\n\nType: string\n\nThe name. Default: the crate's."), "{md}");
        assert!(md.contains("Type: array of table"), "{md}");
        assert!(
            md.contains("| `path` | string (required) | A path \\| with a bar. |"),
            "{md}"
        );
        assert!(md.contains("Type: `\"auto\"` or `\"cargo\"`"), "{md}");
        assert_eq!(
            r.undocumented,
            [
                "package.metadata.x.inner.mode (in package.metadata.x)",
                "package.metadata.x.undocumented-key"
            ]
        );
        assert_eq!(
            keys_of::<Sample>(),
            ["choice", "inner", "package-name", "undocumented-key"]
        );
    }
}

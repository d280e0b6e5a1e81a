//! `[workspace.metadata.forge.release]` (or the package's): what a release contains and where
//! it goes.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::hosts::HostSpec;

/// The release table.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReleaseConfig {
    /// Rust targets to build, each giving an archive and (with `deb`) a package. `--target`
    /// overrides it. Default: the `targets` of `[*.metadata.forge]`, else the host. Each target
    /// is built with the package's `backend`, `toolchain` and `glibc` of `[*.metadata.forge]`.
    /// Example: `targets = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]`.
    pub targets: Option<Vec<String>>,
    /// What to make: `"archive"` (the binaries with README and LICENSE files), `"deb"` (through
    /// `cargo forge-deb`), `"image"` (through `cargo forge-image`). Default `["archive"]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub artifacts: Option<Vec<Artifact>>,
    /// Archive format: `"tar.gz"`, `"tar.xz"` or `"zip"`. Default `"tar.gz"`.
    #[schemars(with = "Option<String>")]
    pub archive_format: Option<crate::artifacts::ArchiveFormat>,
    /// The git tag, from `{{version}}` and `{{name}}` (the package's name). With `{{name}}`
    /// each package of a workspace has tags (and `latest` pointers, `<name>-latest`) of its
    /// own; without it, packages released together share one tag and one release. `/` is
    /// allowed (`release/v{{version}}`). Default `"v{{version}}"`. Example:
    /// `tag-format = "{{name}}-v{{version}}"`.
    pub tag_format: Option<String>,
    /// Branches a release may be made from. Default `["main", "master"]`.
    pub branches: Option<Vec<String>>,
    /// Signatures of every published file and of `SHA256SUMS`: `{ gpg = "KEYID" }` and/or
    /// `{ minisign = "path/to/minisign.key" }`. Default: none (checksums only).
    pub sign: Option<SignConfig>,
    /// Where to publish, each a table with a `kind`; every host gets the release invisibly first,
    /// then all are made visible, `latest` pointers last and only forward (never to a version
    /// lower than one the host holds). Default: the directory
    /// `target/forge/release/<package>/<version>/publish`.
    #[schemars(with = "Option<Vec<HostSpecDoc>>")]
    pub hosts: Option<Vec<HostSpec>>,
    /// Extra files for every archive, relative to the package (README and LICENSE files are
    /// always included). Example: `include = ["docs/config.example.toml"]`.
    pub include: Option<Vec<String>>,
    /// The git remote whose tags are checked and to which the tag is pushed. Default `"origin"`.
    pub remote: Option<String>,
    /// A CycloneDX 1.5 SBOM per target, `<name>-<version>-<target>.cdx.json`: the package's
    /// resolved non-dev dependencies for that target (name, version, `pkg:cargo` PURL,
    /// license, crates.io checksum), checksummed and signed with the rest. Default `false`.
    pub sbom: Option<bool>,
}

/// What a release makes (`artifacts`): one closed set for the config and a command line, spelled
/// as the config spells it (`archive`, `deb`, `image`) there, in clap and in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Artifact {
    Archive,
    Deb,
    Image,
}

impl Artifact {
    /// The config's spelling (the plan keeps artifacts as these words).
    pub fn as_str(self) -> &'static str {
        match self {
            Artifact::Archive => "archive",
            Artifact::Deb => "deb",
            Artifact::Image => "image",
        }
    }
}

impl PartialEq<&str> for Artifact {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// By hand only for the message: "unknown artifact `msi`" with the values, the words the rest
/// of the release's problems use (serde's derive would say "unknown variant").
impl<'de> Deserialize<'de> for Artifact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Artifact, D::Error> {
        use clap::ValueEnum;
        let s = String::deserialize(d)?;
        Artifact::from_str(&s, false).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown artifact `{s}`: use \"archive\", \"deb\" or \"image\""
            ))
        })
    }
}

/// `sign = { … }`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SignConfig {
    /// gpg key id: an armoured `.asc` signature per file, made with the user's gpg and agent.
    pub gpg: Option<String>,
    /// minisign secret key file: a `.minisig` per file (password from `MINISIGN_PASSWORD`).
    pub minisign: Option<String>,
    /// Sign the git tag too (`git tag -s`, with `-u` the `gpg` key when one is given, else git's
    /// `user.signingkey`); verifiable with `git tag -v`. Default `false` (an annotated tag).
    pub tag: Option<bool>,
}

/// The documentation of [`HostSpec`] for the configuration reference. `HostSpec` lives with the
/// hosts; this mirror carries the doc comments, and `host_doc_matches_host_spec` checks that both
/// accept the same kinds and keys (asking serde's own error messages what `HostSpec` accepts).
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used
enum HostSpecDoc {
    /// GitHub Releases: a draft with every asset, published last. Token from `GITHUB_TOKEN` or
    /// `GH_TOKEN`; API from `GITHUB_API_URL` (default `https://api.github.com`).
    Github {
        /// `owner/name`.
        repo: String,
    },
    /// Gitea or Forgejo releases (Codeberg too): draft first, published last. Token from
    /// `GITEA_TOKEN` (or `FORGEJO_TOKEN`).
    Gitea {
        /// The instance, e.g. `https://codeberg.org`.
        url: String,
        /// `owner/name`.
        repo: String,
    },
    /// S3-compatible storage (AWS, Cloudflare R2, MinIO, SeaweedFS): assets under
    /// `<prefix>/<tag>/`, then `release.json`, then `<prefix>/latest.json` last. Credentials from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`).
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix. Default: the bucket's root.
        prefix: Option<String>,
        /// A custom endpoint, e.g. `https://<account>.r2.cloudflarestorage.com`. Default: AWS.
        endpoint: Option<String>,
        /// The region. Default `us-east-1` (R2 wants `auto`).
        region: Option<String>,
    },
    /// An OCI registry: the image (needs `"image"` in `artifacts`), pushed by digest, tagged
    /// last. Credentials as for `cargo forge-image`.
    Oci {
        /// e.g. `ghcr.io/acme/app`.
        repository: String,
    },
    /// An APT repository (needs `"deb"` in `artifacts`), written as `cargo forge-deb repo`
    /// does, in a directory (`dir`; serve or sync it yourself) or in an S3 bucket (`url`).
    Apt {
        /// The repository directory, relative to the workspace. Give this or `url`.
        dir: Option<PathBuf>,
        /// The repository in an S3 bucket, `s3://bucket/prefix` (credentials as for the `s3`
        /// host): pool files are uploaded first, indexes next, `Release`/`InRelease` last, and
        /// the current indexes are merged, so earlier versions stay installable.
        url: Option<String>,
        /// With `url`: a custom S3 endpoint. Default: AWS.
        endpoint: Option<String>,
        /// With `url`: the region. Default `us-east-1`.
        region: Option<String>,
        /// Default `stable`.
        suite: Option<String>,
        /// Default `main`.
        component: Option<String>,
        /// gpg key id signing `Release` (`InRelease`, `Release.gpg`). Default: unsigned.
        #[serde(rename = "sign-key")]
        sign_key: Option<String>,
    },
    /// A local directory: every asset copied into it.
    Dir {
        /// Relative to the workspace.
        path: PathBuf,
    },
}

/// The reference section of `cargo forge-release`'s table (see [`forge_core::reference`]).
pub fn reference_tables() -> Vec<forge_core::reference::Table> {
    vec![forge_core::reference::Table::of::<ReleaseConfig>(
        "workspace.metadata.forge.release",
        &["package.metadata.forge.release"],
        "What `cargo forge-release` builds, signs and publishes. Every key is optional.",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::collections::BTreeSet;

    #[test]
    fn artifacts_are_one_closed_set() {
        use clap::ValueEnum;
        let parse = |v: Value| {
            forge_core::config::parse_table::<ReleaseConfig>(
                &v,
                std::path::Path::new("Cargo.toml"),
                "package.metadata.forge.release",
            )
        };
        let e = parse(json!({"artifacts": ["archive", "msi"]}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`package.metadata.forge.release.artifacts[1]`")
                && e.contains("unknown artifact `msi`")
                && e.contains("\"archive\", \"deb\" or \"image\""),
            "{e}"
        );
        let c = parse(json!({"artifacts": ["deb", "image", "archive"]})).unwrap();
        assert_eq!(
            c.artifacts.unwrap(),
            [Artifact::Deb, Artifact::Image, Artifact::Archive]
        );
        for a in Artifact::value_variants() {
            assert_eq!(serde_json::to_value(a).unwrap(), json!(a.as_str()));
            assert_eq!(a.to_possible_value().unwrap().get_name(), a.as_str());
        }
    }

    /// `archive-format` is one enum for the config and the command line, spelled the same in
    /// both and in JSON; an unknown value is an error naming the key and listing the values.
    #[test]
    fn archive_format_is_one_closed_set() {
        use crate::artifacts::ArchiveFormat;
        use clap::ValueEnum;
        let parse = |v: Value| {
            forge_core::config::parse_table::<ReleaseConfig>(
                &v,
                std::path::Path::new("Cargo.toml"),
                "package.metadata.forge.release",
            )
        };
        let e = parse(json!({"archive-format": "rar"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`package.metadata.forge.release.archive-format`")
                && e.contains("`rar`")
                && ["`tar.gz`", "`tar.xz`", "`zip`"]
                    .iter()
                    .all(|v| e.contains(v)),
            "{e}"
        );
        for (text, format) in [
            ("tar.gz", ArchiveFormat::TarGz),
            ("tgz", ArchiveFormat::TarGz),
            ("tar.xz", ArchiveFormat::TarXz),
            ("txz", ArchiveFormat::TarXz),
            ("zip", ArchiveFormat::Zip),
        ] {
            let c = parse(json!({ "archive-format": text })).unwrap();
            assert_eq!(c.archive_format, Some(format));
            assert_eq!(ArchiveFormat::from_str(text, false).unwrap(), format);
        }
        for f in ArchiveFormat::value_variants() {
            let json = serde_json::to_value(f).unwrap();
            assert_eq!(json.as_str(), Some(f.extension()));
            assert_eq!(f.to_possible_value().unwrap().get_name(), f.extension());
        }
    }

    /// The names serde lists after "expected one of" (or "expected") in an error message.
    fn expected_names(message: &str) -> BTreeSet<String> {
        let list = message
            .split("expected ")
            .nth(1)
            .unwrap_or_else(|| panic!("no list in {message}"));
        list.split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s.to_owned())
            .collect()
    }

    fn unknown_variant<T: serde::de::DeserializeOwned>() -> BTreeSet<String> {
        let e = serde_json::from_value::<T>(json!({"kind": "no-such-kind"}))
            .err()
            .unwrap();
        expected_names(&e.to_string())
    }

    fn unknown_field<T: serde::de::DeserializeOwned>(kind: &str) -> BTreeSet<String> {
        let e = serde_json::from_value::<T>(json!({"kind": kind, "no-such-key": 1}))
            .err()
            .unwrap();
        expected_names(&e.to_string())
    }

    #[test]
    fn host_doc_matches_host_spec() {
        let kinds = unknown_variant::<HostSpec>();
        assert_eq!(kinds, unknown_variant::<HostSpecDoc>(), "host kinds differ");
        assert!(kinds.len() >= 6, "{kinds:?}");
        for kind in &kinds {
            assert_eq!(
                unknown_field::<HostSpec>(kind),
                unknown_field::<HostSpecDoc>(kind),
                "keys of `kind = \"{kind}\"` differ: update HostSpecDoc in config.rs"
            );
        }
        // And the schema shows the same kinds and keys.
        let schema = forge_core::reference::schema_for::<HostSpecDoc>();
        let variants = schema.as_value()["oneOf"].as_array().unwrap();
        assert_eq!(variants.len(), kinds.len());
        for v in variants {
            let props = v["properties"].as_object().unwrap();
            let kind = props["kind"]["const"].as_str().unwrap();
            let keys: BTreeSet<String> = props.keys().filter(|k| *k != "kind").cloned().collect();
            assert_eq!(keys, unknown_field::<HostSpec>(kind), "{kind}");
            for (k, p) in props {
                assert!(
                    k == "kind" || p.get("description").is_some_and(Value::is_string),
                    "`{k}` of `{kind}` has no doc comment"
                );
            }
        }
    }
}

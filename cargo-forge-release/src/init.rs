//! `cargo forge-release init`: a commented starter `[package.metadata.forge.release]`.
//!
//! The artifacts follow what the package already configures (`deb` when it has a
//! `[package.metadata.deb]`, `image` when it has a `forge.image` table); hosts are commented
//! examples (the GitHub one from the crate's `repository` URL), so the first `--dry-run` works
//! without tokens and publishes to the default directory. A test loads every commented example
//! with [`ReleaseConfig`], so none can name a key `cargo forge-release` does not read.

use anyhow::Result;
use cargo_metadata::Package;

use forge_core::init::{toml_str, toml_str_array, InitArgs, Starter};
use forge_core::project::Project;
use forge_core::Shell;

use crate::config::ReleaseConfig;

/// `cargo forge-release init`.
pub fn run(args: &InitArgs, shell: &Shell) -> Result<()> {
    forge_core::init::run(
        args,
        shell,
        |project, pkg| Ok(starter(pkg, has_image(project, pkg))),
        |value, manifest| {
            forge_core::config::parse_table::<ReleaseConfig>(
                value,
                manifest,
                "package.metadata.forge.release",
            )
            .map(drop)
        },
    )
}

/// Whether an image is configured for the package (its own table or the workspace's).
fn has_image(project: &Project, pkg: &Package) -> bool {
    !pkg.metadata["forge"]["image"].is_null()
        || !project.workspace_metadata()["forge"]["image"].is_null()
}

/// The starter table for `pkg`; `image` says whether an image table is configured.
pub fn starter(pkg: &Package, image: bool) -> Starter {
    let name = pkg.name.to_string();
    let mut artifacts = vec!["archive".to_string()];
    if !pkg.metadata["deb"].is_null() {
        artifacts.push("deb".into());
    }
    if image {
        artifacts.push("image".into());
    }
    let github = pkg
        .repository
        .as_deref()
        .and_then(forge_core::init::github_repo);

    let mut t = String::new();
    t.push_str(
        "\n# What `cargo forge-release VERSION` builds, signs and publishes. Started by\n\
         # `cargo forge-release init`: edit freely.\n\
         [package.metadata.forge.release]\n",
    );
    t.push_str(
        "# \"archive\" (the binaries with README and LICENSE files), \"deb\" (the package of\n\
         # [package.metadata.deb]), \"image\" (the image of [package.metadata.forge.image]).\n",
    );
    t.push_str(&format!("artifacts = {}\n", toml_str_array(&artifacts)));
    t.push_str("# \"tar.gz\", \"tar.xz\" or \"zip\".\n");
    t.push_str("archive-format = \"tar.gz\"\n");
    t.push_str(
        "# Rust targets, one archive (and package) each. Default: the workspace's `targets`, else\n\
         # this machine:\n\
         # targets = [\"x86_64-unknown-linux-gnu\", \"aarch64-unknown-linux-gnu\"]\n",
    );
    t.push_str(
        "# Branches a release may be made from. Default: main or master.\n\
         # branches = [\"main\"]\n",
    );
    t.push_str(
        "# Signatures of every file and of SHA256SUMS (default: checksums only):\n\
         # sign = { gpg = \"KEYID\" }\n\
         # sign = { minisign = \"minisign.key\" }\n",
    );
    t.push_str(
        "# Where to publish; every host gets the release invisibly first, then all are made\n\
         # visible. Default: the directory target/forge/release/VERSION/publish.\n",
    );
    let repo = github.unwrap_or_else(|| format!("OWNER/{name}"));
    t.push_str(&format!(
        "# hosts = [{{ kind = \"github\", repo = {} }}]\n",
        toml_str(&repo)
    ));
    t.push_str(&format!(
        "# hosts = [{{ kind = \"gitea\", url = \"https://codeberg.org\", repo = {} }}]\n",
        toml_str(&repo)
    ));
    t.push_str(&format!(
        "# hosts = [{{ kind = \"s3\", bucket = \"releases\", prefix = {}, region = \"auto\", endpoint = \"https://ACCOUNT.r2.cloudflarestorage.com\" }}]\n",
        toml_str(&name)
    ));
    t.push_str("# hosts = [{ kind = \"dir\", path = \"dist\" }]\n");
    if artifacts.iter().any(|a| a == "deb") {
        t.push_str("# hosts = [{ kind = \"apt\", dir = \"public/apt\", sign-key = \"KEYID\" }]\n");
    }
    if image {
        t.push_str(&format!(
            "# hosts = [{{ kind = \"oci\", repository = {} }}]\n",
            toml_str(&format!("ghcr.io/{}", repo.to_ascii_lowercase()))
        ));
    }
    t.push_str("# Extra files for every archive:\n");
    t.push_str("# include = [\"CHANGELOG.md\"]\n");
    t.push_str("# The git tag of a release.\n");
    t.push_str("tag-format = \"v{{version}}\"\n");
    Starter {
        table: vec!["package", "metadata", "forge", "release"],
        text: t,
        next: format!("cargo forge-release {} --dry-run", pkg.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(repository: Option<&str>, metadata: serde_json::Value) -> Package {
        serde_json::from_value(serde_json::json!({
            "name": "app", "version": "1.2.3", "id": "app 1.2.3",
            "authors": [], "categories": [], "keywords": [],
            "dependencies": [], "features": {}, "targets": [],
            "manifest_path": "/nonexistent/Cargo.toml", "metadata": metadata,
            "readme": null, "edition": "2021", "publish": null, "source": null,
            "license": "MIT", "license_file": null, "description": "d",
            "repository": repository, "homepage": null, "documentation": null,
            "links": null, "default_run": null, "rust_version": null
        }))
        .unwrap()
    }

    fn load(v: &serde_json::Value) -> ReleaseConfig {
        forge_core::config::parse_table(
            v,
            std::path::Path::new("Cargo.toml"),
            "package.metadata.forge.release",
        )
        .unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    #[test]
    fn artifacts_follow_the_configured_tables() {
        let s = starter(&package(None, serde_json::Value::Null), false);
        let c = load(&s.value().unwrap());
        assert_eq!(c.artifacts.unwrap(), ["archive"]);
        assert_eq!(c.tag_format.as_deref(), Some("v{{version}}"));
        assert!(c.hosts.is_none(), "hosts stay examples");
        assert_eq!(s.next, "cargo forge-release 1.2.3 --dry-run");

        let s = starter(
            &package(
                Some("https://github.com/acme/app"),
                serde_json::json!({"deb": {}}),
            ),
            true,
        );
        let c = load(&s.value().unwrap());
        assert_eq!(c.artifacts.unwrap(), ["archive", "deb", "image"]);
        assert!(s
            .text
            .contains("# hosts = [{ kind = \"github\", repo = \"acme/app\" }]"));
    }

    #[test]
    fn every_commented_example_is_a_real_key() {
        let s = starter(&package(None, serde_json::json!({"deb": {}})), true);
        let examples = forge_core::init::commented_examples(&s.text);
        assert!(examples.len() >= 11, "{examples:?}");
        for (_, value) in &examples {
            load(value);
        }
    }
}

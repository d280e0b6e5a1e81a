//! `cargo forge-image init`: a commented starter `[package.metadata.forge.image]`.
//!
//! Written values come from the project: the repository from a GitHub `repository` URL
//! (`ghcr.io/owner/name`), the platforms from the workspace's `targets` when it has them, the
//! entrypoint from the package's binaries. Everything else is a commented example; a test loads
//! each with [`ImageConfig`], so none can name a key `cargo forge-image` does not read.

use anyhow::Result;
use cargo_metadata::Package;

use forge_core::init::{toml_str, toml_str_array, InitArgs, Starter};
use forge_core::project::{binaries, Project};
use forge_core::Shell;

use crate::config::ImageConfig;

/// `cargo forge-image init`.
pub fn run(args: &InitArgs, shell: &Shell) -> Result<()> {
    forge_core::init::run(
        args,
        shell,
        |project, pkg| {
            if binaries(pkg).next().is_none() {
                shell.warn(format!(
                    "`{}` has no binary: uncomment `from-deb = true` to make the image from its .deb",
                    pkg.name
                ));
            }
            Ok(starter(pkg, &workspace_targets(project)))
        },
        |value, manifest| {
            forge_core::config::parse_table::<ImageConfig>(
                value,
                manifest,
                "package.metadata.forge.image",
            )
            .map(drop)
        },
    )
}

/// `targets` of `[workspace.metadata.forge]`, if set (a bad table is reported by the build, not
/// here).
fn workspace_targets(project: &Project) -> Vec<String> {
    project.workspace_metadata()["forge"]["targets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The starter table for `pkg`; `targets` are the workspace's configured Rust targets.
pub fn starter(pkg: &Package, targets: &[String]) -> Starter {
    let bins: Vec<String> = binaries(pkg).map(|t| t.name.clone()).collect();
    let entry = pkg
        .default_run
        .clone()
        .or_else(|| bins.first().cloned())
        .unwrap_or_else(|| pkg.name.to_string());
    let image_name = pkg.name.to_ascii_lowercase();
    let platforms: Vec<String> = targets
        .iter()
        .filter_map(|t| forge_core::target::lookup(t).ok())
        .map(|i| i.oci_platform())
        .collect();

    let mut t = String::new();
    t.push_str(
        "\n# The container image `cargo forge-image` builds: multi-platform, no Docker daemon.\n\
         # Started by `cargo forge-image init`: edit freely.\n\
         [package.metadata.forge.image]\n",
    );
    t.push_str(
        "# \"scratch\" holds only the binaries and the shared libraries they link; a distribution\n\
         # image brings a shell, CA certificates and time zones:\n\
         # base = \"debian:bookworm-slim\"\n\
         base = \"scratch\"\n",
    );
    if platforms.is_empty() {
        t.push_str(
            "# The platforms to build, each cross-compiled from its Rust target. Default: this\n\
             # machine's.\n\
             # platforms = [\"linux/amd64\", \"linux/arm64\"]\n",
        );
    } else {
        t.push_str(
            "# The platforms to build, each cross-compiled from its Rust target (here: the\n\
             # workspace's `targets`).\n",
        );
        t.push_str(&format!("platforms = {}\n", toml_str_array(&platforms)));
    }
    match pkg
        .repository
        .as_deref()
        .and_then(forge_core::init::github_repo)
    {
        Some(repo) => {
            t.push_str(
                "# Where `--push` pushes (GitHub's registry for the crate's GitHub repository).\n",
            );
            t.push_str(&format!(
                "repository = {}\n",
                toml_str(&format!("ghcr.io/{}", repo.to_ascii_lowercase()))
            ));
        }
        None => {
            t.push_str("# Where `--push` pushes, tagged from `tags`:\n");
            t.push_str(&format!(
                "# repository = {}\n",
                toml_str(&format!("ghcr.io/OWNER/{image_name}"))
            ));
        }
    }
    t.push_str(
        "# Tag templates. Default: the version, major.minor, major and latest (a pre-release gets\n\
         # only the tags holding its version or a commit):\n\
         # tags = [\"{{version}}\", \"{{major}}.{{minor}}\", \"{{major}}\", \"latest\", \"sha-{{short_sha}}\"]\n",
    );
    t.push_str(&format!(
        "# The binaries in /usr/local/bin (default: all of them) and what the container runs\n\
         # (default: `{entry}`):\n"
    ));
    if bins.len() > 1 {
        t.push_str(&format!("# binaries = {}\n", toml_str_array(&bins)));
    }
    t.push_str(&format!(
        "# entrypoint = {}\n",
        toml_str_array(&[format!("/usr/local/bin/{entry}")])
    ));
    t.push_str("# cmd = [\"--help\"]\n");
    t.push_str("# env = { RUST_LOG = \"info\" }\n");
    t.push_str("# ports = [\"8080\"]\n");
    t.push_str("# workdir = \"/data\"\n");
    t.push_str(
        "# A health check exists only in Docker-format images (it makes the format \"docker\"):\n",
    );
    t.push_str(&format!(
        "# healthcheck = {{ test = {}, interval = \"30s\" }}\n",
        toml_str_array(&[
            "CMD".to_string(),
            format!("/usr/local/bin/{entry}"),
            "--version".into()
        ])
    ));
    t.push_str(
        "# Make the image from the .deb `cargo forge-deb` builds (binaries in /usr/bin, its assets):\n\
         # from-deb = true\n",
    );
    t.push_str("# Extra files: [source, destination, mode].\n");
    t.push_str(&format!(
        "# assets = [[\"README.md\", {}, \"644\"]]\n",
        toml_str(&format!("/usr/share/doc/{image_name}/"))
    ));
    t.push_str("# The user the container runs as: non-root by default.\n");
    t.push_str("user = \"65532\"\n");
    Starter {
        table: vec!["package", "metadata", "forge", "image"],
        text: t,
        next: "cargo forge-image --dry-run".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(repository: Option<&str>, bins: &[&str]) -> Package {
        let targets: Vec<serde_json::Value> = bins
            .iter()
            .map(|b| {
                serde_json::json!({
                    "name": b, "kind": ["bin"], "crate_types": ["bin"],
                    "src_path": format!("/x/src/bin/{b}.rs"), "edition": "2021",
                    "doctest": false, "test": true, "doc": true
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": "My_App", "version": "1.0.0", "id": "my-app 1.0.0",
            "authors": [], "categories": [], "keywords": [],
            "dependencies": [], "features": {}, "targets": targets,
            "manifest_path": "/nonexistent/Cargo.toml", "metadata": null,
            "readme": null, "edition": "2021", "publish": null, "source": null,
            "license": "MIT", "license_file": null, "description": "d",
            "repository": repository, "homepage": null, "documentation": null,
            "links": null, "default_run": null, "rust_version": null
        }))
        .unwrap()
    }

    fn load(v: &serde_json::Value) -> ImageConfig {
        forge_core::config::parse_table(
            v,
            std::path::Path::new("Cargo.toml"),
            "package.metadata.forge.image",
        )
        .unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    #[test]
    fn values_from_the_project() {
        let s = starter(
            &package(Some("https://github.com/Acme/App"), &["app", "appctl"]),
            &["aarch64-unknown-linux-gnu".into()],
        );
        let c = load(&s.value().unwrap());
        assert_eq!(c.repository.as_deref(), Some("ghcr.io/acme/app"));
        assert_eq!(c.platforms.unwrap(), ["linux/arm64/v8"]);
        assert_eq!(c.base.as_deref(), Some("scratch"));
        assert_eq!(c.user.as_deref(), Some("65532"));
        assert!(s.text.contains("# binaries = [\"app\", \"appctl\"]"));

        let s = starter(&package(None, &["app"]), &[]);
        let c = load(&s.value().unwrap());
        assert!(c.repository.is_none() && c.platforms.is_none());
    }

    #[test]
    fn every_commented_example_is_a_real_key() {
        let s = starter(&package(None, &["app", "appctl"]), &[]);
        let examples = forge_core::init::commented_examples(&s.text);
        assert!(examples.len() >= 12, "{examples:?}");
        for (_, value) in &examples {
            load(value);
        }
    }
}

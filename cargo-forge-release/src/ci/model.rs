//! What the workflow is derived from: the [`Model`] of the inputs (build rows per target with
//! their runner architecture and cross linker, hosts, branches, tag pattern), sorted so that the
//! text does not depend on the order of lists in Cargo.toml.

use super::*;

/// The runner label of an architecture.
pub(super) fn runner(provider: Provider, arch: &str) -> &'static str {
    match (provider, arch) {
        (Provider::Github, "arm64") => "ubuntu-24.04-arm",
        (Provider::Github, _) => "ubuntu-24.04",
        (Provider::Forgejo, "arm64") => "docker-arm64",
        (Provider::Forgejo, _) => "docker",
    }
}

/// One build job of the matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) target: String,
    /// The architecture of the runner: `amd64` or `arm64`.
    pub(super) arch: &'static str,
    /// The cross linker (`arm-linux-gnueabihf-gcc`) and the Debian packages that have it, for
    /// targets no runner's CPU runs.
    pub(super) cross: Option<(String, String)>,
}

pub(super) fn row(triple: &str) -> Row {
    match forge_core::target::lookup(triple) {
        Ok(t) => {
            let arch = match t.dpkg_arch.as_str() {
                "arm64" => "arm64",
                _ => "amd64",
            };
            let native = matches!(t.dpkg_arch.as_str(), "amd64" | "arm64");
            Row {
                target: triple.to_string(),
                arch,
                cross: (!native).then(|| {
                    (
                        format!("{}gcc", t.gcc_prefix),
                        format!(
                            "gcc-{} libc6-dev-{}-cross",
                            t.gcc_prefix.trim_end_matches('-'),
                            t.dpkg_arch
                        ),
                    )
                }),
            }
        }
        // `validate` rejects these; `generate` stays total.
        Err(_) => Row {
            target: triple.to_string(),
            arch: "amd64",
            cross: None,
        },
    }
}

/// Everything [`generate`] derives from the inputs, sorted so the output does not depend on the
/// order of lists in Cargo.toml.
pub(super) struct Model<'a> {
    pub(super) provider: Provider,
    pub(super) inputs: &'a CiInputs,
    pub(super) rows: Vec<Row>,
    /// Runner architectures, `amd64` first (plan, publish and merge run there).
    pub(super) arches: Vec<&'static str>,
    pub(super) image: bool,
    pub(super) hosts: Vec<String>,
    pub(super) branches: Vec<String>,
    pub(super) tag_prefix: String,
    pub(super) tag_suffix: String,
}

impl Model<'_> {
    pub(super) fn new(provider: Provider, inputs: &CiInputs) -> Model<'_> {
        let mut targets: Vec<&str> = inputs.targets.iter().map(String::as_str).collect();
        if targets.is_empty() {
            targets.push(DEFAULT_TARGET);
        }
        targets.sort_unstable();
        targets.dedup();
        let rows: Vec<Row> = targets.iter().map(|t| row(t)).collect();
        let mut arches = vec!["amd64"];
        if rows.iter().any(|r| r.arch == "arm64") {
            arches.push("arm64");
        }
        let hosts: BTreeSet<String> = inputs.hosts.iter().cloned().collect();
        let mut branches = inputs.branches.clone();
        if branches.is_empty() {
            branches.push("main".into());
        }
        branches.sort();
        branches.dedup();
        let format = inputs.tag_format.replace("{{name}}", &inputs.package);
        let (tag_prefix, tag_suffix) = format
            .split_once("{{version}}")
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .unwrap_or_else(|| ("v".into(), String::new()));
        Model {
            provider,
            inputs,
            rows,
            arches,
            image: inputs.artifacts.iter().any(|a| a == "image"),
            hosts: hosts.into_iter().collect(),
            branches,
            tag_prefix,
            tag_suffix,
        }
    }

    pub(super) fn github(&self) -> bool {
        self.provider == Provider::Github
    }

    pub(super) fn has_host(&self, kind: &str) -> bool {
        self.hosts.iter().any(|h| h == kind)
    }

    /// The registry host of the image repository (`None` when it comes from the image config).
    pub(super) fn registry(&self) -> Option<&str> {
        self.inputs
            .image_repository
            .as_deref()
            .map(|r| r.split('/').next().unwrap_or(r))
    }

    /// Whether images go to ghcr.io with the workflow's own token (`packages: write`). An
    /// unknown repository counts: on GitHub that is where they usually go.
    pub(super) fn ghcr(&self) -> bool {
        self.github() && matches!(self.registry(), None | Some("ghcr.io"))
    }

    /// Whether images go somewhere that needs `FORGE_REGISTRY_USERNAME`/`_PASSWORD` secrets.
    pub(super) fn registry_secrets(&self) -> bool {
        !self.github() || self.registry() != Some("ghcr.io")
    }

    pub(super) fn runner(&self) -> &'static str {
        runner(self.provider, "amd64")
    }

    pub(super) fn cross(&self) -> bool {
        self.rows.iter().any(|r| r.cross.is_some())
    }

    /// The `on.push.tags` filter: the tag format with `{{version}}` as `*.*.*`, the rest escaped.
    pub(super) fn tag_filter(&self) -> String {
        let escape = |s: &str| {
            s.chars().fold(String::new(), |mut acc, c| {
                if "*?+[]!\\".contains(c) {
                    acc.push('\\');
                }
                acc.push(c);
                acc
            })
        };
        format!(
            "{}*.*.*{}",
            escape(&self.tag_prefix),
            escape(&self.tag_suffix)
        )
    }

    /// The secrets to add: (name, what it is, which jobs read it).
    pub(super) fn secrets(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let gh = self.github();
        let mut secrets = Vec::new();
        if self.has_host("github") && !gh {
            secrets.push((
                "GH_TOKEN",
                "a GitHub token that may create releases",
                "publish",
            ));
        }
        if self.has_host("gitea") && gh {
            secrets.push((
                "GITEA_TOKEN",
                "a Gitea/Forgejo token that may create releases",
                "publish",
            ));
        }
        if self.inputs.s3_credentials {
            secrets.push(("AWS_ACCESS_KEY_ID", "S3 credentials", "publish"));
            secrets.push(("AWS_SECRET_ACCESS_KEY", "S3 credentials", "publish"));
        }
        if self.image && self.registry_secrets() {
            let jobs = "build's push-image step, merge";
            secrets.push(("FORGE_REGISTRY_USERNAME", "the image registry's user", jobs));
            secrets.push(("FORGE_REGISTRY_PASSWORD", "and its password or token", jobs));
        }
        if self.inputs.gpg {
            secrets.push((
                "GPG_PRIVATE_KEY",
                "the armoured gpg secret key that signs",
                "publish",
            ));
            secrets.push((
                "GPG_PASSPHRASE",
                "its passphrase (leave it unset for a key without one)",
                "publish",
            ));
        }
        if self.inputs.minisign_key.is_some() {
            secrets.push((
                "MINISIGN_KEY",
                "the minisign secret key file's text",
                "publish",
            ));
            secrets.push(("MINISIGN_PASSWORD", "its password", "publish"));
        }
        secrets
    }
}

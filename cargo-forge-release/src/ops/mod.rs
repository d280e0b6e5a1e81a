//! Executing a release plan ([`crate::plan`]): build and stage, checksum and sign, then publish
//! in an order where nothing half-done is visible.
//!
//! 1. [`check_secrets`] — the first thing a publishing run does, before any side effect: every
//!    host's credentials, the signing keys, all problems together, each naming its variable.
//!    Planning and building never read a secret.
//! 2. [`stage_package`] builds one package for some of its targets (the build engine, whose
//!    subprocesses never see a credential) and stages archives, SBOMs, `.deb`s and the image
//!    (an OCI layout) by executing the plan's sub-plans on those binaries. The one-shot stages
//!    every package of a release into `target/forge/release/<package>/<version>/staging`; the
//!    `build` phase one runner's targets into `--out DIR/<package>/<target>/`.
//! 3. [`checksum_and_sign`]: `SHA256SUMS` and signatures.
//! 4. [`publish`] runs every host's `preflight`, then `prepare` (uploads readers cannot see:
//!    drafts, objects, untagged manifests); if any fails, nothing is visible. Then the git tag
//!    is created and pushed, and every host's `publish` makes the release visible, moving tags
//!    and `latest` pointers last — and only forward. Each step is recorded in `state.json`; a
//!    re-run resumes and never repeats a step.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};

use forge_core::exit::{usage, ResultExt};
use forge_core::http::{HttpClient, RetryPolicy};
use forge_core::Shell;

use crate::artifacts;
use crate::hosts::{Host, HostSpec, HostState, Progress};
use crate::plan::{ReleasePlan, UnitPlan};
use crate::state::State;

mod bump;
mod publish;
mod stage;

pub use bump::{apply_bump, bump, restore, Originals};
pub use publish::{abort, publish, report_gha};
pub use stage::{checksum_and_sign, resumable_staged, stage_package, stage_unit};

/// Where credentials come from when a host is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// The environment (`GITHUB_TOKEN`, `AWS_*`, …): a publishing phase.
    Env,
    /// None: the host can name itself and describe what it will do, nothing more.
    None,
}

/// The network settings of a phase: `--retries` (else `FORGE_RETRIES`, else the plan's) and
/// `--insecure-registry`.
#[derive(Clone, Debug)]
pub struct Exec {
    pub http: HttpClient,
}

impl Exec {
    pub fn new(plan: &ReleasePlan, retries: Option<u32>, insecure: &[String]) -> Result<Exec> {
        let retries = forge_core::cli::resolve_retries(retries, Some(plan.retries))?;
        Ok(Exec {
            http: HttpClient::new(RetryPolicy::new(retries), insecure.to_vec()),
        })
    }
}

/// The commit message of `--bump`.
pub fn bump_message(version: &str) -> String {
    format!("Release {version}")
}

/// Builds a host object from its spec.
pub fn make_host(
    spec: &HostSpec,
    http: &HttpClient,
    root: &Path,
    credentials: Credentials,
) -> Result<Box<dyn Host>> {
    Ok(match spec {
        HostSpec::Dir { path } => Box::new(crate::hosts::dir::DirHost {
            path: root.join(path),
        }),
        HostSpec::Oci { repository } => Box::new(crate::hosts::oci::OciHost {
            repository: repository.clone(),
            http: http.clone(),
        }),
        HostSpec::Apt {
            dir,
            url,
            endpoint,
            region,
            suite,
            component,
            sign_key,
        } => {
            use crate::hosts::apt::AptTarget;
            let target = match (dir, url) {
                (Some(dir), None) if endpoint.is_none() && region.is_none() => {
                    AptTarget::Dir(root.join(dir))
                }
                (None, Some(url)) => {
                    let (bucket, prefix) = crate::hosts::apt::parse_s3_url(url)?;
                    let config = crate::hosts::s3::S3Config {
                        bucket,
                        prefix,
                        endpoint: endpoint.clone(),
                        region: region
                            .clone()
                            .unwrap_or_else(|| crate::hosts::s3::DEFAULT_REGION.into()),
                    };
                    let host = match credentials {
                        Credentials::Env => crate::hosts::s3::S3Host::from_env(config, http)?,
                        Credentials::None => crate::hosts::s3::S3Host::new(
                            config,
                            crate::hosts::s3::S3Credentials::new(
                                "",
                                forge_core::secret::Secret::new(""),
                                None,
                            ),
                            http,
                        )?,
                    };
                    AptTarget::S3(Box::new(host))
                }
                (Some(_), None) => {
                    return Err(usage(
                        "`endpoint` and `region` of an `apt` host go with `url = \"s3://…\"`, not `dir`",
                    ))
                }
                _ => {
                    return Err(usage(
                        "an `apt` host needs one of `dir = \"path\"` or `url = \"s3://bucket/prefix\"`",
                    ))
                }
            };
            Box::new(crate::hosts::apt::AptHost {
                target,
                suite: suite.clone().unwrap_or_else(|| "stable".into()),
                component: component.clone().unwrap_or_else(|| "main".into()),
                sign_key: sign_key.clone(),
            })
        }
        other => match credentials {
            Credentials::Env => crate::hosts::make_remote(other, http)?,
            Credentials::None => crate::hosts::remote::describe_remote(other, http)?,
        },
    })
}

/// What a publishing run needs that the plan does not read, checked before its first side
/// effect: each host's credentials (`hosts`), the signing keys (`signing`: gpg's secret key,
/// the minisign key file, the tag's key), all problems together, each naming its variable or
/// key.
pub fn check_secrets(
    plan: &ReleasePlan,
    units: &[&UnitPlan],
    exec: &Exec,
    hosts: bool,
    signing: bool,
    shell: &Shell,
) -> Result<()> {
    let root = &plan.workspace_root;
    let mut problems: Vec<String> = Vec::new();
    let mut gpg_keys: Vec<(String, String)> = Vec::new();
    for u in units {
        if hosts {
            for h in &u.hosts {
                if let Err(e) = make_host(&h.spec, &exec.http, root, Credentials::Env) {
                    let mut p = format!("{e:#}");
                    for hint in forge_core::exit::hints(&e) {
                        p.push_str(&format!(" ({hint})"));
                    }
                    if !problems.contains(&p) {
                        problems.push(p);
                    }
                }
                if let HostSpec::Apt {
                    sign_key: Some(k), ..
                } = &h.spec
                {
                    gpg_keys.push((k.clone(), "`sign-key` of the `apt` host".into()));
                }
            }
        }
        if signing {
            if let Some(k) = &u.sign.gpg {
                gpg_keys.push((k.clone(), "`sign.gpg`".into()));
            }
            if let Some(k) = &u.sign.minisign {
                if !root.join(k).is_file() {
                    problems.push(format!(
                        "minisign key `{k}` (`sign.minisign`) does not exist"
                    ));
                }
            }
            if hosts && u.make_tag && u.sign.tag == Some(true) && u.sign.gpg.is_none() {
                // `git tag -s` without `-u` signs with git's `user.signingkey`.
                match crate::git::signing_key(root, shell) {
                    Some(k) => gpg_keys.push((k, "git's `user.signingkey`, for `sign.tag`".into())),
                    None => problems.push(
                        "`sign.tag = true` needs a key: set `sign.gpg = \"KEYID\"` or git's `user.signingkey`"
                            .into(),
                    ),
                }
            }
        }
    }
    gpg_keys.sort();
    gpg_keys.dedup_by(|a, b| a.0 == b.0);
    for (k, what) in gpg_keys {
        if let Err(e) = artifacts::check_gpg_key(&k, shell) {
            problems.push(format!("{e} ({what})"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let list: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
    Err(usage(format!(
        "cannot publish {} {}: nothing was done{list}",
        units
            .iter()
            .flat_map(|u| u.packages.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", "),
        plan.version
    )))
}

/// Prints the plan for people.
pub fn show(plan: &ReleasePlan, shell: &Shell) {
    for u in &plan.releases {
        shell.status(
            "Release",
            format!(
                "{} {} (tag {}{})",
                u.packages.join(", "),
                plan.version,
                u.tag,
                if plan.prerelease { ", pre-release" } else { "" }
            ),
        );
        for name in &u.packages {
            let Some(p) = plan.package(name) else {
                continue;
            };
            let targets: Vec<String> = p
                .targets
                .iter()
                .map(|t| {
                    let mut s = t.triple.clone();
                    let mut how = Vec::new();
                    if t.backend != forge_core::cli::BackendChoice::Auto {
                        how.push(format!("{:?}", t.backend).to_lowercase());
                    }
                    if let Some(tc) = &t.toolchain {
                        how.push(format!("toolchain {tc}"));
                    }
                    if let Some(g) = &t.glibc {
                        how.push(format!("glibc {g}"));
                    }
                    if !how.is_empty() {
                        s.push_str(&format!(" ({})", how.join(", ")));
                    }
                    s
                })
                .collect();
            let who = if u.packages.len() > 1 {
                format!("{name}: ")
            } else {
                String::new()
            };
            shell.status("Targets", format!("{who}{}", targets.join(", ")));
            shell.status(
                "Artifacts",
                format!(
                    "{who}{} ({}){}",
                    p.artifacts.join(", "),
                    p.archive_format.extension(),
                    if p.sbom { ", CycloneDX SBOM" } else { "" }
                ),
            );
        }
        let sign = &u.sign;
        if sign.gpg.is_some() || sign.minisign.is_some() || sign.tag == Some(true) {
            shell.status(
                "Signing",
                format!(
                    "{}{}{}",
                    sign.gpg
                        .as_ref()
                        .map(|k| format!("gpg {k} "))
                        .unwrap_or_default(),
                    sign.minisign
                        .as_ref()
                        .map(|k| format!("minisign {k} "))
                        .unwrap_or_default(),
                    if sign.tag == Some(true) {
                        "and the git tag"
                    } else {
                        ""
                    }
                )
                .trim_end(),
            );
        }
        for h in &u.hosts {
            for a in &h.actions {
                shell.status("Publish", format!("{}: {a}", h.id));
            }
        }
        match (&u.make_tag, &u.remote) {
            (true, Some(r)) => shell.status("Tag", format!("{} (pushed to {r})", u.tag)),
            (true, None) => shell.status("Tag", format!("{} (local; no remote)", u.tag)),
            _ => {}
        }
    }
}

/// Asks for confirmation on a terminal; without one, `--yes` is required.
pub fn confirm(yes: bool, shell: &Shell) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "refusing to publish without confirmation: there is no terminal to ask on",
        ))
        .hint(
            "pass `--yes` to publish non-interactively, or `--stage-only` to build without publishing",
        );
    }
    shell.log(
        forge_core::shell::Verbosity::Quiet,
        "Publish this release? [y/N] ",
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("failed to read the answer")?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(usage("release cancelled: nothing was published"))
    }
}

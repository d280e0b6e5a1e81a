//! `cargo xtask bench`: cargo-forge against its peers, measured on this machine.
//!
//! Each benchmark runs the two commands it compares alternately (ours, peer, ours, peer, …) after
//! one warm-up each, so that a slow drift of the machine (thermal, page cache, a neighbour) hits
//! both sides alike; wall time is `Instant` around the child process. The medians and their ratio
//! are checked against the targets of the issue, printed as a table on stdout, and written with
//! every raw number (all runs, package sizes, machine, tool versions) to
//! `target/bench/results.json` plus a timestamped copy next to it. Machines are often shared, so
//! each measured run first waits (bounded) for the other processes to leave the cores idle, and
//! records its own CPU time and the CPU the rest of the machine used meanwhile (`/proc`).
//!
//! This file holds the options, the list of benchmarks and the runner that dispatches to them;
//! one module per benchmark under `bench/`, and what they share in [`common`] (timing, medians,
//! the binaries under test) and [`report`] (tables, machine and tool facts, time stamps):
//!
//! * `deb-package`: see [`deb`]: the same prebuilt payload ([`payload`]: a real Rust binary of
//!   ≥ 20 MB — Debian's `/usr/bin/cargo` — plus a README, a man page and docs) packaged with
//!   `cargo forge-deb --no-build` and `cargo deb --no-build`, each at its defaults, then at equal
//!   compression (xz preset 6); optional extra xz levels for ours (`--xz-levels`).
//! * `noop-overhead`: see [`noop`]: `cargo forge-deb` (building) vs `cargo build --release` on
//!   `tests/fixtures/cli-tool` when nothing changed (the previous package included, as a user's
//!   would be): what packaging adds to an up-to-date build.
//! * `apt-repo-scale`: see [`apt_repo`]: 500 and 5,000 packages indexed, then one added, by
//!   `cargo forge-deb repo`, reprepro and aptly.
//! * `cross-vs-emulated`, `image-push`, `release`, `docker-push`, `docker-emulated`: see the
//!   modules [`cross`], [`image`], [`release`], [`docker`] and [`docker_emulated`]; they build
//!   `tests/fixtures/bench-app` (real crates.io dependencies, vendored once per run by
//!   [`app::prepare`]) with Debian's toolchain.
//! * `memory`: see [`memory`].
//!
//! Payloads and fixtures are set up under `target/bench/`, never in the source tree.

mod app;
mod apt_repo;
mod common;
mod cross;
mod deb;
mod docker;
mod docker_emulated;
mod image;
mod memory;
mod noop;
mod payload;
mod registry;
mod release;
mod report;
mod s3;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde_json::json;

use crate::cmd::{self, note, status, warn};
use crate::setup::{self, Tools};
use common::{build_release_bin, cargo_deb_version, BenchResult};

/// Benchmarks this command runs.
pub const AVAILABLE: &[(&str, &str)] = &[
    (
        "deb-package",
        "package a prebuilt 27 MB binary + assets: cargo forge-deb --no-build vs cargo deb --no-build",
    ),
    (
        "noop-overhead",
        "cargo forge-deb vs cargo build --release when nothing changed (tests/fixtures/cli-tool)",
    ),
    (
        "cross-vs-emulated",
        "arm64 release build of tests/fixtures/bench-app: cargo forge-deb cross vs cargo build under qemu-user in an arm64 root",
    ),
    (
        "image-push",
        "two-platform image of prebuilt binaries pushed to a loopback registry: cargo forge-image vs buildah; and the re-push",
    ),
    (
        "apt-repo-scale",
        "APT repository of 500 and 5,000 small packages indexed, then one added: cargo forge-deb repo vs reprepro and aptly",
    ),
    (
        "release",
        "two-target release (archives, debs, image, sums, signatures, 3 hosts): cargo forge-release vs its builds alone",
    ),
    (
        "docker-push",
        "two-platform image of prebuilt binaries: cargo forge-image vs docker build per platform + docker push + docker manifest (the seeds' way)",
    ),
    (
        "docker-emulated",
        "arm64 image from source: cargo forge-image (cross build) vs docker build --platform linux/arm64 compiling under qemu (the seeds' way)",
    ),
    (
        "memory",
        "peak RSS of forge-deb, forge-image (build, push) and forge-release (dir, registry, S3) with a 64 MiB, 512 MiB and 2 GiB asset",
    ),
];

/// Benchmarks of the issue whose commands are not there yet (none now; kept for the refusal
/// path, exit 2, when a benchmark is added to the issue before it is implemented).
pub const NOT_AVAILABLE: &[(&str, &str)] = &[];

/// Runs per side when `--runs` is not given.
pub const DEFAULT_RUNS: usize = 5;
/// How long a run waits, at most, for other processes to leave the cores alone.
const DEFAULT_IDLE_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// Emulated builds per `cross-vs-emulated` run (each takes tens of minutes on 2 cores).
pub const DEFAULT_EMULATED_RUNS: usize = 1;
/// The watchdog of an emulated build.
const DEFAULT_EMULATED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(45 * 60);

/// Options of `cargo xtask bench`.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// Benchmarks to run, in the order given; empty means every available one.
    pub names: Vec<String>,
    pub runs: usize,
    /// Extra xz levels to measure cargo-forge-deb at in `deb-package` (no target, a trade-off).
    pub xz_levels: Vec<u32>,
    /// Before each run, wait at most this long for the machine to be idle (`--no-idle-wait`: 0).
    pub idle_wait: std::time::Duration,
    /// `cross-vs-emulated`: emulated builds (at most `runs`), and the watchdog of each.
    pub emulated_runs: usize,
    pub emulated_timeout: std::time::Duration,
    /// `memory`: the asset sizes (`--sizes 64M,512M,2G`); empty means the default three.
    pub memory_sizes: Vec<u64>,
}

impl Options {
    /// Parses the arguments after `bench`. Unknown benchmark names are usage errors; known ones
    /// that are not available yet are accepted here and refused by [`run`].
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut opts = Options {
            names: Vec::new(),
            runs: DEFAULT_RUNS,
            xz_levels: Vec::new(),
            idle_wait: DEFAULT_IDLE_WAIT,
            emulated_runs: DEFAULT_EMULATED_RUNS,
            emulated_timeout: DEFAULT_EMULATED_TIMEOUT,
            memory_sizes: Vec::new(),
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| iter.next().cloned())
                    .ok_or_else(|| format!("`{name}` needs a value"))
            };
            match flag {
                "--runs" => {
                    let v = value("--runs")?;
                    opts.runs = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        format!("invalid `--runs` value `{v}`: expected a number ≥ 1")
                    })?;
                }
                "--emulated-runs" => {
                    let v = value("--emulated-runs")?;
                    opts.emulated_runs = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        format!("invalid `--emulated-runs` value `{v}`: expected a number ≥ 1")
                    })?;
                }
                "--emulated-timeout" => {
                    let v = value("--emulated-timeout")?;
                    let s: u64 = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        format!("invalid `--emulated-timeout` value `{v}`: expected seconds ≥ 1")
                    })?;
                    opts.emulated_timeout = std::time::Duration::from_secs(s);
                }
                "--sizes" => {
                    let v = value("--sizes")?;
                    for size in v.split(',') {
                        let n = memory::parse_size(size).ok_or_else(|| {
                            format!("invalid `--sizes` value `{size}`: expected sizes such as 64M,512M,2G")
                        })?;
                        if !opts.memory_sizes.contains(&n) {
                            opts.memory_sizes.push(n);
                        }
                    }
                }
                "--no-idle-wait" if inline.is_none() => {
                    opts.idle_wait = std::time::Duration::ZERO;
                }
                "--xz-levels" => {
                    let v = value("--xz-levels")?;
                    for level in v.split(',') {
                        let n = level.trim().parse().ok().filter(|n| *n <= 9).ok_or_else(|| {
                            format!("invalid `--xz-levels` value `{level}`: expected levels 0-9, e.g. 3,4,5")
                        })?;
                        if !opts.xz_levels.contains(&n) {
                            opts.xz_levels.push(n);
                        }
                    }
                }
                f if f.starts_with('-') => return Err(format!("unexpected argument `{arg}`")),
                name => {
                    let known = AVAILABLE
                        .iter()
                        .chain(NOT_AVAILABLE)
                        .any(|(n, _)| *n == name);
                    if !known {
                        return Err(format!(
                            "unknown benchmark `{name}`: expected one of {}",
                            all_names().join(", ")
                        ));
                    }
                    if !opts.names.iter().any(|n| n == name) {
                        opts.names.push(name.to_owned());
                    }
                }
            }
        }
        opts.emulated_runs = opts.emulated_runs.min(opts.runs);
        Ok(opts)
    }
}

fn all_names() -> Vec<&'static str> {
    AVAILABLE
        .iter()
        .chain(NOT_AVAILABLE)
        .map(|(n, _)| *n)
        .collect()
}

/// `cargo xtask bench`: refuses benchmarks that are not available yet (exit 2), builds what the
/// selected ones run, runs them in order, then writes and prints the report.
pub fn run(opts: &Options) -> Result<ExitCode> {
    if refuse_not_available(opts) {
        return Ok(ExitCode::from(2));
    }
    let names = selected_names(opts);
    let started_at = SystemTime::now();
    let tools = Tools::locate();
    let bins = Bins::build(&names, &tools)?;
    // The state cargo-forge-deb was built from (others may commit while the benchmarks run).
    let workspace = report::workspace_state();
    let bench_dir = cmd::target_dir().join("bench");
    std::fs::create_dir_all(&bench_dir)
        .with_context(|| format!("could not create {}", bench_dir.display()))?;

    // The vendored app of the build-heavy benchmarks, prepared once.
    let needs_app = names.iter().any(|n| {
        matches!(
            *n,
            "cross-vs-emulated" | "image-push" | "release" | "docker-push" | "docker-emulated"
        )
    });
    let bench_app = if needs_app {
        Some(app::prepare(&bench_dir)?)
    } else {
        None
    };

    let mut results = Vec::new();
    for name in &names {
        status("Benchmark", *name);
        results.push(run_one(
            name,
            &bins,
            &tools,
            bench_app.as_ref(),
            &bench_dir,
            opts,
        )?);
    }

    let report = json!({
        "schema": 1,
        "started": report::rfc3339(started_at),
        "finished": report::rfc3339(SystemTime::now()),
        "command": std::iter::once("cargo xtask bench".to_owned())
            .chain(std::env::args().skip(2))
            .collect::<Vec<_>>()
            .join(" "),
        "runs": opts.runs,
        "machine": report::machine(),
        "tools": report::tool_versions(&bins.deb, &tools),
        "workspace": workspace,
        "benchmarks": results.iter().map(|r| &r.json).collect::<Vec<_>>(),
        "not_available": NOT_AVAILABLE.iter().map(|(n, w)| json!({"name": n, "why": w})).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&report)? + "\n";
    let latest = bench_dir.join("results.json");
    let stamped = bench_dir.join(format!(
        "results-{}.json",
        report::compact_stamp(started_at)
    ));
    for path in [&latest, &stamped] {
        std::fs::write(path, &text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    print_summary(&names, &results, &latest, &stamped);
    Ok(ExitCode::SUCCESS)
}

/// Reports the selected benchmarks that are not available yet; true when there are any.
fn refuse_not_available(opts: &Options) -> bool {
    let missing: Vec<&str> = opts
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| NOT_AVAILABLE.iter().any(|(m, _)| m == n))
        .collect();
    if missing.is_empty() {
        return false;
    }
    for name in &missing {
        let why = NOT_AVAILABLE
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| *w);
        cmd::error(format!(
            "benchmark `{name}` is not available yet: {}",
            why.unwrap_or("")
        ));
    }
    note(format!(
        "available now: {}",
        AVAILABLE
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    true
}

/// The benchmarks to run: those named, else every available one.
fn selected_names(opts: &Options) -> Vec<&str> {
    let names: Vec<&str> = if opts.names.is_empty() {
        AVAILABLE.iter().map(|(n, _)| *n).collect()
    } else {
        opts.names.iter().map(String::as_str).collect()
    };
    if opts.names.is_empty() && !NOT_AVAILABLE.is_empty() {
        note(format!(
            "not available yet, skipped: {}",
            NOT_AVAILABLE
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !opts.xz_levels.is_empty() && !names.contains(&"deb-package") {
        warn("`--xz-levels` only applies to `deb-package`, which is not selected");
    }
    names
}

/// Our release binaries the selected benchmarks run (cargo-forge-deb always).
struct Bins {
    deb: PathBuf,
    image: Option<PathBuf>,
    release: Option<PathBuf>,
}

impl Bins {
    /// Installs cargo-deb when `deb-package` needs it and is missing, then builds our binaries.
    fn build(names: &[&str], tools: &Tools) -> Result<Bins> {
        if names.contains(&"deb-package") && cargo_deb_version(&tools.cargo_deb).is_none() {
            status(
                "Installing",
                "cargo-deb, the peer of `deb-package` (setup --only cargo)",
            );
            setup::run(&setup::Options {
                dry_run: false,
                only: vec![setup::Group::Cargo],
            })?;
        }
        let deb = build_release_bin("cargo-forge-deb")?;
        let image = if names.iter().any(|n| {
            matches!(
                *n,
                "image-push" | "docker-push" | "docker-emulated" | "memory"
            )
        }) {
            Some(build_release_bin("cargo-forge-image")?)
        } else {
            None
        };
        let release = if names.contains(&"release") || names.contains(&"memory") {
            Some(build_release_bin("cargo-forge-release")?)
        } else {
            None
        };
        Ok(Bins {
            deb,
            image,
            release,
        })
    }
}

/// Runs the benchmark `name`.
fn run_one(
    name: &str,
    bins: &Bins,
    tools: &Tools,
    bench_app: Option<&app::App>,
    bench_dir: &Path,
    opts: &Options,
) -> Result<BenchResult> {
    let forge_deb = &bins.deb;
    let forge_image = bins.image.as_deref();
    let forge_release = bins.release.as_deref();
    let bench_app = || bench_app.expect("prepared for this benchmark");
    Ok(match name {
        "deb-package" => deb::run(forge_deb, tools, bench_dir, opts)?,
        "noop-overhead" => noop::run(forge_deb, bench_dir, opts)?,
        "apt-repo-scale" => apt_repo::run(forge_deb, bench_dir, opts)?,
        "cross-vs-emulated" => cross::run(forge_deb, bench_app(), bench_dir, opts)?,
        "image-push" => image::run(
            forge_deb,
            forge_image.expect("built for image-push"),
            bench_app(),
            bench_dir,
            opts,
        )?,
        "release" => release::run(
            forge_deb,
            forge_release.expect("built for release"),
            bench_app(),
            bench_dir,
            opts,
        )?,
        "memory" => memory::run(
            &memory::Bins {
                deb: forge_deb,
                image: forge_image.expect("built for memory"),
                release: forge_release.expect("built for memory"),
            },
            bench_dir,
            opts,
        )?,
        "docker-push" => docker::run_push(
            forge_deb,
            forge_image.expect("built for docker-push"),
            bench_app(),
            bench_dir,
            opts,
        )?,
        "docker-emulated" => docker_emulated::run(
            forge_image.expect("built for docker-emulated"),
            bench_app(),
            bench_dir,
            opts,
        )?,
        other => unreachable!("unhandled benchmark {other}"),
    })
}

/// The tables on stdout, then warnings about contention and missed targets.
fn print_summary(names: &[&str], results: &[BenchResult], latest: &Path, stamped: &Path) {
    report::print_table(results);
    for r in results {
        if !r.levels.is_empty() {
            report::print_levels(&r.levels);
        }
    }
    for (name, r) in names.iter().zip(results) {
        if r.contention >= 0.1 {
            warn(format!(
                "{name}: other processes used {:.2} cores on average during the runs; the times \
                 include that contention (see other_processes_cores in the JSON)",
                r.contention
            ));
        }
    }
    status(
        "Wrote",
        format!("{} and {}", latest.display(), stamped.display()),
    );
    let missed = results
        .iter()
        .flat_map(|r| &r.rows)
        .filter(|r| r.met == Some(false))
        .count();
    if missed > 0 {
        note(format!("{missed} target(s) missed; see the table above"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_names_runs_and_levels() {
        let o = Options::parse(&args(&[
            "noop-overhead",
            "--runs",
            "3",
            "deb-package",
            "--xz-levels=3,4,4,5",
        ]))
        .unwrap();
        assert_eq!(o.names, ["noop-overhead", "deb-package"]);
        assert_eq!(o.runs, 3);
        assert_eq!(o.xz_levels, [3, 4, 5]);
        let d = Options::parse(&[]).unwrap();
        assert!(d.names.is_empty());
        assert_eq!(d.runs, DEFAULT_RUNS);
        assert_eq!(
            Options::parse(&args(&["image-push", "release"]))
                .unwrap()
                .names,
            ["image-push", "release"]
        );
        let e = Options::parse(&args(&[
            "cross-vs-emulated",
            "--emulated-timeout=60",
            "--emulated-runs",
            "3",
            "--runs",
            "2",
        ]))
        .unwrap();
        assert_eq!(e.emulated_timeout, Duration::from_secs(60));
        assert_eq!(e.emulated_runs, 2, "never more emulated runs than runs");
        assert_eq!(d.emulated_runs, DEFAULT_EMULATED_RUNS);
        assert!(Options::parse(&args(&["--no-idle-wait"]))
            .unwrap()
            .idle_wait
            .is_zero());
        for bad in [
            &["nope"][..],
            &["--runs", "0"],
            &["--runs"],
            &["--xz-levels", "12"],
            &["--fast"],
            &["--emulated-timeout", "0"],
            &["--emulated-runs", "x"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}

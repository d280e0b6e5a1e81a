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
//! * `deb-package`: the same prebuilt payload (a real Rust binary of ≥ 20 MB — Debian's
//!   `/usr/bin/cargo` — plus a README, a man page and docs) packaged with
//!   `cargo forge-deb --no-build` and `cargo deb --no-build`, each at its defaults, then at equal
//!   compression (xz preset 6); optional extra xz levels for ours (`--xz-levels`).
//! * `noop-overhead`: `cargo forge-deb` (building) vs `cargo build --release` on
//!   `tests/fixtures/cli-tool` when nothing changed (the previous package included, as a user's
//!   would be): what packaging adds to an up-to-date build.
//!
//! * `apt-repo-scale`: see [`apt_repo`]: 500 and 5,000 packages indexed, then one added, by
//!   `cargo forge-deb repo`, reprepro and aptly.
//! * `cross-vs-emulated`, `image-push`, `release`, `docker-push`, `docker-emulated`: see the
//!   modules [`cross`], [`image`], [`release`] and [`docker`]; they build `tests/fixtures/bench-app` (real crates.io dependencies, vendored
//!   once per run by [`app::prepare`]) with Debian's toolchain.
//!
//! Payloads and fixtures are set up under `target/bench/`, never in the source tree.

mod app;
mod apt_repo;
mod cross;
mod docker;
mod image;
mod memory;
mod registry;
mod release;
mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::cmd::{self, note, status, warn};
use crate::setup::{self, Tools};

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

/// The payload binary: Debian's cargo (package cargo-web, installed by `cargo xtask setup`).
const PAYLOAD_BINARY: &str = "/usr/bin/cargo";
const MIN_PAYLOAD_BYTES: u64 = 20_000_000;
const PAYLOAD_NAME: &str = "forge-bench-payload";
const PAYLOAD_VERSION: &str = "1.0.0";
const NOOP_FIXTURE: &str = "tests/fixtures/cli-tool";

/// The issue's targets.
const DEB_DEFAULT_TIME_RATIO: f64 = 0.5;
const DEB_DEFAULT_SIZE_RATIO: f64 = 1.1;
const DEB_EQUAL_TIME_RATIO: f64 = 1.0;
const NOOP_MAX_EXTRA_SECS: f64 = 0.3;

/// What cargo-deb 3.8 does at its defaults (src/util/compress.rs: `MtStreamBuilder` with
/// `preset(6)`, `threads(available_parallelism)`, no block size, i.e. liblzma's 3 × dictionary).
const PEER_XZ_SETTINGS: &str =
    "xz preset 6, one thread per core, liblzma's default block size (3 x 8 MiB dictionary = 24 MiB)";
/// What cargo-forge-deb's xz adds to the plan's format/level/threads (writer.rs `XZ_BLOCK_SIZE`).
const OURS_XZ_BLOCK: &str = "fixed 4 MiB blocks";

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

/// `cargo xtask bench`.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let missing: Vec<&str> = opts
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| NOT_AVAILABLE.iter().any(|(m, _)| m == n))
        .collect();
    if !missing.is_empty() {
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
        return Ok(ExitCode::from(2));
    }
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

    let started_at = SystemTime::now();
    let tools = Tools::locate();
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
    let forge_deb = build_release_bin("cargo-forge-deb")?;
    let forge_image = if names.iter().any(|n| {
        matches!(
            *n,
            "image-push" | "docker-push" | "docker-emulated" | "memory"
        )
    }) {
        Some(build_release_bin("cargo-forge-image")?)
    } else {
        None
    };
    let forge_release = if names.contains(&"release") || names.contains(&"memory") {
        Some(build_release_bin("cargo-forge-release")?)
    } else {
        None
    };
    // The state cargo-forge-deb was built from (others may commit while the benchmarks run).
    let workspace = workspace_state();
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
    let bench_app = || bench_app.as_ref().expect("prepared for this benchmark");

    let mut results = Vec::new();
    for name in &names {
        status("Benchmark", *name);
        let result = match *name {
            "deb-package" => deb_package(&forge_deb, &tools, &bench_dir, opts)?,
            "noop-overhead" => noop_overhead(&forge_deb, &bench_dir, opts)?,
            "apt-repo-scale" => apt_repo::run(&forge_deb, &bench_dir, opts)?,
            "cross-vs-emulated" => cross::run(&forge_deb, bench_app(), &bench_dir, opts)?,
            "image-push" => image::run(
                &forge_deb,
                forge_image.as_deref().expect("built for image-push"),
                bench_app(),
                &bench_dir,
                opts,
            )?,
            "release" => release::run(
                &forge_deb,
                forge_release.as_deref().expect("built for release"),
                bench_app(),
                &bench_dir,
                opts,
            )?,
            "memory" => memory::run(
                &memory::Bins {
                    deb: &forge_deb,
                    image: forge_image.as_deref().expect("built for memory"),
                    release: forge_release.as_deref().expect("built for memory"),
                },
                &bench_dir,
                opts,
            )?,
            "docker-push" => docker::run_push(
                &forge_deb,
                forge_image.as_deref().expect("built for docker-push"),
                bench_app(),
                &bench_dir,
                opts,
            )?,
            "docker-emulated" => docker::run_emulated(
                forge_image.as_deref().expect("built for docker-emulated"),
                bench_app(),
                &bench_dir,
                opts,
            )?,
            other => unreachable!("unhandled benchmark {other}"),
        };
        results.push(result);
    }

    let report = json!({
        "schema": 1,
        "started": rfc3339(started_at),
        "finished": rfc3339(SystemTime::now()),
        "command": std::iter::once("cargo xtask bench".to_owned())
            .chain(std::env::args().skip(2))
            .collect::<Vec<_>>()
            .join(" "),
        "runs": opts.runs,
        "machine": machine(),
        "tools": tool_versions(&forge_deb, &tools),
        "workspace": workspace,
        "benchmarks": results.iter().map(|r| &r.json).collect::<Vec<_>>(),
        "not_available": NOT_AVAILABLE.iter().map(|(n, w)| json!({"name": n, "why": w})).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&report)? + "\n";
    let latest = bench_dir.join("results.json");
    let stamped = bench_dir.join(format!("results-{}.json", compact_stamp(started_at)));
    for path in [&latest, &stamped] {
        std::fs::write(path, &text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }

    print_table(&results);
    for r in &results {
        if !r.levels.is_empty() {
            print_levels(&r.levels);
        }
    }
    for (name, r) in names.iter().zip(&results) {
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
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// One timed run of a child process.
struct Sample {
    secs: f64,
    /// CPU time (user + system) of the child and the descendants it waited for.
    cpu_s: f64,
    /// CPU time the rest of the machine used meanwhile (other processes): contention.
    foreign_cpu_s: f64,
    output: Output,
}

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on every Linux architecture).
const USER_HZ: f64 = 100.0;

/// CPU time of the waited-for children of this process, from `/proc/self/stat`.
fn children_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, cutime 16 and cstime 17.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    (fields.get(13).copied().unwrap_or(0.0) + fields.get(14).copied().unwrap_or(0.0)) / USER_HZ
}

/// CPU time the whole machine has been busy (all cores), from `/proc/stat`.
fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) / USER_HZ
}

/// The number of cores other processes kept busy over `window`.
fn background_cores(window: std::time::Duration) -> f64 {
    let before = machine_busy_s();
    std::thread::sleep(window);
    (machine_busy_s() - before) / window.as_secs_f64()
}

/// Waits (at most `max`) until the machine is nearly idle, so that a run does not share the
/// cores with someone else's work. Returns the seconds waited and the last background load.
fn wait_for_idle(max: std::time::Duration) -> (f64, f64) {
    const IDLE_CORES: f64 = 0.25;
    let start = Instant::now();
    let mut said = false;
    loop {
        let load = background_cores(std::time::Duration::from_millis(500));
        if load <= IDLE_CORES || start.elapsed() >= max {
            if load > IDLE_CORES {
                warn(format!(
                    "the machine is still busy ({load:.2} cores used by other processes) after \
                     waiting {:.0} s; measuring anyway",
                    start.elapsed().as_secs_f64()
                ));
            }
            return (start.elapsed().as_secs_f64(), load);
        }
        if !said {
            note(format!(
                "waiting for the machine to be idle ({load:.2} cores used by other processes)"
            ));
            said = true;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// Waits for an idle machine before a measured run (not before warm-ups); returns the wait.
fn idle(opts: &Options, round: usize) -> f64 {
    if round == 0 || opts.idle_wait.is_zero() {
        return 0.0;
    }
    wait_for_idle(opts.idle_wait).0
}

/// `1.234 s (cpu 2.10 s)`, plus the contention when other processes used the cores meanwhile.
fn describe_sample(s: &Sample) -> String {
    let mut text = format!("{} (cpu {:.2} s", secs(s.secs), s.cpu_s);
    let others = s.foreign_cpu_s / s.secs.max(1e-9);
    if others >= 0.1 {
        text.push_str(&format!(", others {others:.2} cores"));
    }
    text.push(')');
    text
}

/// Runs `cmd` with captured output, timing it; fails (naming the command, quoting stderr) unless
/// it exits 0.
fn timed(cmd: &mut Command) -> Result<Sample> {
    let shown = cmd::display(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (cpu0, busy0) = (children_cpu_s(), machine_busy_s());
    let start = Instant::now();
    let output = cmd
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    let secs = start.elapsed().as_secs_f64();
    let cpu_s = children_cpu_s() - cpu0;
    let foreign_cpu_s = (machine_busy_s() - busy0 - cpu_s).max(0.0);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "command `{shown}` failed ({}):\n{}",
            output.status,
            tail(stderr.trim_end(), 40)
        );
    }
    Ok(Sample {
        secs,
        cpu_s,
        foreign_cpu_s,
        output,
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn stats(values: &[f64]) -> Value {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({
        "runs_s": values.iter().map(|v| round(*v, 4)).collect::<Vec<_>>(),
        "median_s": round(median(values), 4),
        "min_s": round(min, 4),
        "max_s": round(max, 4),
    })
}

/// The measured runs of one command (the warm-up excluded).
#[derive(Default)]
struct Series {
    times: Vec<f64>,
    cpu: Vec<f64>,
    foreign: Vec<f64>,
    waited: Vec<f64>,
    warmup_s: f64,
}

impl Series {
    /// Records `sample` (round 0 is the warm-up) after `waited` seconds of waiting for idle.
    fn record(&mut self, round: usize, sample: &Sample, waited: f64) {
        if round == 0 {
            self.warmup_s = sample.secs;
            return;
        }
        self.times.push(sample.secs);
        self.cpu.push(sample.cpu_s);
        self.foreign.push(sample.foreign_cpu_s);
        self.waited.push(waited);
    }

    fn median(&self) -> f64 {
        median(&self.times)
    }

    /// Cores used by other processes during the runs, on average.
    fn background_cores(&self) -> f64 {
        let wall: f64 = self.times.iter().sum();
        if wall > 0.0 {
            self.foreign.iter().sum::<f64>() / wall
        } else {
            0.0
        }
    }

    fn json(&self) -> Value {
        let r = |v: &[f64]| v.iter().map(|x| round(*x, 3)).collect::<Vec<_>>();
        let mut v = stats(&self.times);
        v["warmup_s"] = json!(round(self.warmup_s, 4));
        v["cpu_s"] = json!(r(&self.cpu));
        v["median_cpu_s"] = json!(round(median(&self.cpu), 3));
        v["other_processes_cpu_s"] = json!(r(&self.foreign));
        v["other_processes_cores"] = json!(round(self.background_cores(), 3));
        v["waited_for_idle_s"] = json!(r(&self.waited));
        v
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// A row of the summary table.
struct Row {
    label: String,
    ours: String,
    peer: String,
    ratio: String,
    target: String,
    /// `None`: informational row without a target.
    met: Option<bool>,
}

struct BenchResult {
    rows: Vec<Row>,
    json: Value,
    /// The most cores other processes used, on average, during one command's measured runs.
    contention: f64,
    /// deb-package with `--xz-levels`: one row per level of cargo forge-deb (see [`level_row`]).
    levels: Vec<[String; 6]>,
}

/// A row of the xz level trade-off table: level, median time, median CPU, size, and time and
/// size relative to cargo-deb at its defaults.
fn level_row(
    compression: &Value,
    suffix: &str,
    runs: &Series,
    size: u64,
    time_ratio: f64,
    size_ratio: f64,
) -> [String; 6] {
    [
        format!(
            "{} -{}{suffix}",
            compression["format"].as_str().unwrap_or("?"),
            compression["level"]
        ),
        secs(runs.median()),
        format!("{:.2} s", median(&runs.cpu)),
        megabytes(size),
        format!("{time_ratio:.2}x"),
        format!("{size_ratio:.3}x"),
    ]
}

fn print_levels(levels: &[[String; 6]]) {
    let header = [
        "cargo forge-deb at",
        "time (median)",
        "cpu (median)",
        "size",
        "time vs cargo-deb",
        "size vs cargo-deb",
    ]
    .map(String::from);
    let rows: Vec<&[String; 6]> = std::iter::once(&header).chain(levels).collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let w: Vec<usize> = (0..6).map(width).collect();
    println!(
        "deb-package: time/size trade-off of the xz level (no target; cargo-deb at its defaults)"
    );
    for (n, r) in rows.iter().enumerate() {
        let mut line = format!("{:<w0$}", r[0], w0 = w[0]);
        for i in 1..6 {
            line.push_str(&format!("  {:>wi$}", r[i], wi = w[i]));
        }
        println!("{line}");
        if n == 0 {
            println!("{}", "-".repeat(w.iter().sum::<usize>() + 10));
        }
    }
    println!();
}

fn secs(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.3} s")
    } else {
        format!("{v:.2} s")
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn print_table(results: &[BenchResult]) {
    let header = Row {
        label: "benchmark".into(),
        ours: "ours (median)".into(),
        peer: "peer (median)".into(),
        ratio: "ours/peer".into(),
        target: "target".into(),
        met: None,
    };
    let rows: Vec<&Row> = std::iter::once(&header)
        .chain(results.iter().flat_map(|r| &r.rows))
        .collect();
    let w = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0);
    let (w0, w1, w2, w3, w4) = (
        w(|r| &r.label),
        w(|r| &r.ours),
        w(|r| &r.peer),
        w(|r| &r.ratio),
        w(|r| &r.target),
    );
    println!();
    for (i, r) in rows.iter().enumerate() {
        let result = match (i, r.met) {
            (0, _) => "result",
            (_, Some(true)) => "MET",
            (_, Some(false)) => "MISSED",
            (_, None) => "",
        };
        let line = format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<w4$}  {result}",
            r.label, r.ours, r.peer, r.ratio, r.target
        );
        println!("{}", line.trim_end());
        if i == 0 {
            println!("{}", "-".repeat(w0 + w1 + w2 + w3 + w4 + 10 + 6));
        }
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// The binaries under test

/// `cargo build --release -p BIN --bin BIN` of one of our commands; returns the executable cargo
/// reports.
fn build_release_bin(bin: &str) -> Result<PathBuf> {
    status("Building", format!("{bin} (release)"));
    let mut build = cmd::cargo();
    build
        .args(["build", "--release", "-p", bin, "--bin", bin])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let shown = cmd::display(&build);
    let out = build
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("command `{shown}` failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("`{shown}` reported no {bin} executable"))
}

/// The version cargo-deb reports, when it runs.
fn cargo_deb_version(bin: &Path) -> Option<String> {
    first_line(Command::new(bin).arg("--version"))
}

fn first_line(cmd: &mut Command) -> Option<String> {
    let out = cmd::probe(cmd)?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&out.stderr)
    } else {
        text
    };
    text.lines().next().map(|l| l.trim().to_owned())
}

/// `cargo-forge-deb forge-deb ARGS` for a crate, with a neutral environment.
fn forge_deb_cmd(forge_deb: &Path, krate: &Path) -> Command {
    let mut c = Command::new(forge_deb);
    c.arg("forge-deb")
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"));
    neutral_env(&mut c, krate);
    c
}

/// Started in the crate, without the variables that would move its target dir or target.
fn neutral_env(c: &mut Command, krate: &Path) {
    c.current_dir(krate)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_TARGET_DIR");
}

/// The compression cargo-forge-deb plans with `extra` args (`--dry-run --message-format json`).
fn planned_compression(forge_deb: &Path, krate: &Path, extra: &[&str]) -> Result<Value> {
    let mut c = forge_deb_cmd(forge_deb, krate);
    c.args(["--no-build", "--dry-run", "--message-format", "json"])
        .args(extra);
    let out = cmd::output(&mut c)?;
    let plan: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`{}` printed no JSON plan", cmd::display(&c)))?;
    Ok(plan["compression"].clone())
}

fn describe_ours(compression: &Value) -> String {
    let format = compression["format"].as_str().unwrap_or("?");
    let block = if format == "xz" {
        format!(", {OURS_XZ_BLOCK}")
    } else {
        String::new()
    };
    format!(
        "{format} level {}, {} threads{block}",
        compression["level"], compression["threads"]
    )
}

// ---------------------------------------------------------------------------------------------
// deb-package

/// A measured case of `deb-package`: ours and optionally the peer, with their extra arguments.
struct DebCase {
    name: String,
    ours_args: Vec<String>,
    peer_args: Option<Vec<String>>,
}

#[derive(Default)]
struct DebSide {
    runs: Series,
    sizes: Vec<u64>,
    command: String,
    installed_size_kib: Option<u64>,
    files: Option<usize>,
}

fn deb_package(
    forge_deb: &Path,
    tools: &Tools,
    bench_dir: &Path,
    opts: &Options,
) -> Result<BenchResult> {
    let krate = bench_dir.join("deb-payload");
    let payload = make_payload(&krate, forge_deb)?;
    let out_root = krate.join("out");

    let mut cases = vec![
        DebCase {
            name: "defaults".into(),
            ours_args: vec![],
            peer_args: Some(vec![]),
        },
        DebCase {
            name: "xz-6".into(),
            ours_args: strings(&["--compress", "xz", "--compress-level", "6"]),
            peer_args: Some(strings(&["--compress-type", "xz"])),
        },
    ];
    for level in &opts.xz_levels {
        cases.push(DebCase {
            name: format!("ours-xz-{level}"),
            ours_args: vec![
                "--compress".into(),
                "xz".into(),
                "--compress-level".into(),
                level.to_string(),
            ],
            peer_args: None,
        });
    }

    let mut rows = Vec::new();
    let mut case_json = Vec::new();
    let mut peer_default_size = None;
    let mut peer_default_median = None;
    let mut contention: f64 = 0.0;
    let mut levels = Vec::new();
    for case in &cases {
        let ours_compression = planned_compression(
            forge_deb,
            &krate,
            &case
                .ours_args
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )?;
        let ours_out = out_root.join(format!("{}-ours", case.name));
        let peer_out = out_root.join(format!("{}-peer", case.name));
        let ours_cmd = || {
            let mut c = forge_deb_cmd(forge_deb, &krate);
            c.arg("--no-build")
                .args(&case.ours_args)
                .arg("-o")
                .arg(&ours_out);
            c
        };
        let peer_cmd = |args: &[String]| {
            let mut c = Command::new(&tools.cargo_deb);
            c.arg("--manifest-path")
                .arg(krate.join("Cargo.toml"))
                .arg("--no-build")
                .args(args)
                .arg("-o")
                .arg(&peer_out);
            neutral_env(&mut c, &krate);
            c
        };
        let mut ours = DebSide {
            command: cmd::display(&ours_cmd()),
            ..DebSide::default()
        };
        let mut peer = case.peer_args.as_ref().map(|a| DebSide {
            command: cmd::display(&peer_cmd(a)),
            ..DebSide::default()
        });

        status(
            "Running",
            format!("deb-package/{}: {}", case.name, ours.command),
        );
        if let Some(p) = &peer {
            status(
                "Running",
                format!("deb-package/{}: {}", case.name, p.command),
            );
        }
        // Warm-up (page cache, dpkg-shlibdeps' caches), then the alternating runs.
        for round in 0..=opts.runs {
            let waited = idle(opts, round);
            let (sample, size) = package_once(&mut ours_cmd(), &ours_out)?;
            let mut line = format!("ours {}", describe_sample(&sample));
            ours.runs.record(round, &sample, waited);
            if round > 0 {
                ours.sizes.push(size);
            }
            if let (Some(p), Some(args)) = (peer.as_mut(), &case.peer_args) {
                let waited = idle(opts, round);
                let (sample, size) = package_once(&mut peer_cmd(args), &peer_out)?;
                line.push_str(&format!(", cargo-deb {}", describe_sample(&sample)));
                p.runs.record(round, &sample, waited);
                if round > 0 {
                    p.sizes.push(size);
                }
            }
            let what = if round == 0 {
                "warm-up".to_owned()
            } else {
                format!("run {round}/{}", opts.runs)
            };
            status(
                "Measured",
                format!("deb-package/{} {what}: {line}", case.name),
            );
        }
        // The last packages are still there: what is in them.
        describe_deb(&ours_out, &mut ours)?;
        if let Some(p) = peer.as_mut() {
            describe_deb(&peer_out, p)?;
        }

        contention = contention.max(ours.runs.background_cores());
        if let Some(p) = &peer {
            contention = contention.max(p.runs.background_cores());
        }
        let ours_median = ours.runs.median();
        let ours_size = *ours.sizes.last().unwrap_or(&0);
        let mut entry = json!({
            "case": case.name,
            "ours": side_json(&ours),
            "ours_compression": describe_ours(&ours_compression),
            "ours_planned_compression": ours_compression,
        });
        match &peer {
            Some(p) => {
                let peer_median = p.runs.median();
                let peer_size = *p.sizes.last().unwrap_or(&0);
                let time_ratio = ours_median / peer_median;
                let size_ratio = ours_size as f64 / peer_size as f64;
                let (target, met) = if case.name == "defaults" {
                    peer_default_size = Some(peer_size);
                    peer_default_median = Some(peer_median);
                    levels.push(level_row(
                        &ours_compression,
                        " (default)",
                        &ours.runs,
                        ours_size,
                        time_ratio,
                        size_ratio,
                    ));
                    (
                        format!(
                            "time <= {DEB_DEFAULT_TIME_RATIO}x, size <= {DEB_DEFAULT_SIZE_RATIO}x"
                        ),
                        time_ratio <= DEB_DEFAULT_TIME_RATIO
                            && size_ratio <= DEB_DEFAULT_SIZE_RATIO,
                    )
                } else {
                    (
                        format!("time <= {DEB_EQUAL_TIME_RATIO:.1}x"),
                        time_ratio <= DEB_EQUAL_TIME_RATIO,
                    )
                };
                rows.push(Row {
                    label: format!("deb-package ({})", case.name),
                    ours: secs(ours_median),
                    peer: secs(peer_median),
                    ratio: format!("{time_ratio:.2}x"),
                    target: target.clone(),
                    met: Some(met),
                });
                rows.push(Row {
                    label: "  package size".into(),
                    ours: megabytes(ours_size),
                    peer: megabytes(peer_size),
                    ratio: format!("{size_ratio:.3}x"),
                    target: String::new(),
                    met: None,
                });
                entry["peer"] = side_json(p);
                entry["peer_compression"] = json!(PEER_XZ_SETTINGS);
                entry["time_ratio"] = json!(round(time_ratio, 4));
                entry["size_ratio"] = json!(round(size_ratio, 4));
                entry["target"] = json!(target);
                entry["met"] = json!(met);
            }
            None => {
                // Informational: against cargo-deb's defaults, when they were measured.
                let (ratio, size_ratio) = match (peer_default_median, peer_default_size) {
                    (Some(m), Some(s)) => (ours_median / m, ours_size as f64 / s as f64),
                    _ => (f64::NAN, f64::NAN),
                };
                levels.push(level_row(
                    &ours_compression,
                    "",
                    &ours.runs,
                    ours_size,
                    ratio,
                    size_ratio,
                ));
                entry["time_ratio_vs_peer_defaults"] = json!(round(ratio, 4));
                entry["size_ratio_vs_peer_defaults"] = json!(round(size_ratio, 4));
            }
        }
        case_json.push(entry);
    }

    Ok(BenchResult {
        rows,
        json: json!({
            "name": "deb-package",
            "payload": payload,
            "cases": case_json,
        }),
        contention,
        levels: if opts.xz_levels.is_empty() {
            Vec::new()
        } else {
            levels
        },
    })
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn side_json(side: &DebSide) -> Value {
    let mut v = side.runs.json();
    v["command"] = json!(side.command);
    v["sizes_bytes"] = json!(side.sizes);
    v["installed_size_kib"] = json!(side.installed_size_kib);
    v["data_entries"] = json!(side.files);
    v
}

/// One packaging run into an emptied `out` directory: its time and the package's size.
fn package_once(c: &mut Command, out: &Path) -> Result<(Sample, u64)> {
    if out.exists() {
        std::fs::remove_dir_all(out)
            .with_context(|| format!("could not remove {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    let sample = timed(c)?;
    let deb = single_deb(out)?;
    let size = deb.metadata()?.len();
    Ok((sample, size))
}

fn single_deb(dir: &Path) -> Result<PathBuf> {
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    match debs.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one .deb in {}, found {}",
            dir.display(),
            debs.len()
        ),
    }
}

/// `Installed-Size` and the number of data entries of the package in `out`.
fn describe_deb(out: &Path, side: &mut DebSide) -> Result<()> {
    let deb = single_deb(out)?;
    let field = cmd::output(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .arg("Installed-Size"),
    )?;
    side.installed_size_kib = String::from_utf8_lossy(&field.stdout).trim().parse().ok();
    let contents = cmd::output(Command::new("dpkg-deb").arg("--contents").arg(&deb))?;
    side.files = Some(String::from_utf8_lossy(&contents.stdout).lines().count());
    Ok(())
}

/// Writes the payload crate to `dir` (afresh) and puts the prebuilt binary where cargo would have
/// built it. Returns what the payload is, for the report.
fn make_payload(dir: &Path, forge_deb: &Path) -> Result<Value> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("could not remove {}", dir.display()))?;
    }
    let write = |rel: &str, text: &str| -> Result<()> {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("relative path has a parent"))
            .with_context(|| format!("could not create {}", path.display()))?;
        std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))
    };
    let n = PAYLOAD_NAME;
    write(
        "Cargo.toml",
        &format!(
            r#"[package]
name = "{n}"
version = "{PAYLOAD_VERSION}"
edition = "2021"
description = "Benchmark payload of cargo xtask bench: a prebuilt Rust binary with its documentation"
license = "MIT"
authors = ["cargo-forge bench <bench@example.com>"]
homepage = "https://example.com/{n}"
repository = "https://example.com/cargo-forge/{n}"
readme = "README.md"
publish = false

# Its own workspace: written under target/bench/ of cargo-forge, never part of it.
[workspace]

[[bin]]
name = "{n}"
path = "src/main.rs"

[package.metadata.deb]
maintainer = "cargo-forge bench <bench@example.com>"
copyright = "2026, cargo-forge bench <bench@example.com>"
section = "devel"
assets = [
    ["target/release/{n}", "usr/bin/", "755"],
    ["README.md", "usr/share/doc/{n}/README", "644"],
    ["doc/{n}.1.gz", "usr/share/man/man1/", "644"],
    ["doc/guide.md", "usr/share/doc/{n}/guide.md", "644"],
    ["doc/configuration.md", "usr/share/doc/{n}/configuration.md", "644"],
    ["doc/commands.md", "usr/share/doc/{n}/commands.md", "644"],
    ["doc/completions.bash", "usr/share/bash-completion/completions/{n}", "644"],
]
"#
        ),
    )?;
    write(
        "src/main.rs",
        "//! Stand-in source: the packaged binary is prebuilt.\nfn main() {}\n",
    )?;
    write("LICENSE", MIT_LICENSE)?;
    write(
        "CHANGELOG.md",
        &format!(
            "# Changelog\n\n## {PAYLOAD_VERSION}\n\n- First release of the benchmark payload.\n"
        ),
    )?;
    write("README.md", &readme_text())?;
    write("doc/guide.md", &doc_text("Guide", 120))?;
    write("doc/configuration.md", &doc_text("Configuration", 80))?;
    write("doc/commands.md", &doc_text("Commands", 160))?;
    write("doc/completions.bash", &completions_text())?;
    write(&format!("doc/{n}.1"), &man_text())?;
    cmd::output(
        Command::new("gzip")
            .args(["-9nf"])
            .arg(dir.join(format!("doc/{n}.1"))),
    )?;

    // The binary: Debian's cargo, else the cargo running xtask, else our own build (smaller).
    let candidates: Vec<(PathBuf, &str)> = [
        Some((
            PathBuf::from(PAYLOAD_BINARY),
            "Debian's cargo (package cargo-web)",
        )),
        std::env::var_os("CARGO").map(|c| (PathBuf::from(c), "the toolchain's cargo ($CARGO)")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let chosen = candidates.iter().find(|(p, _)| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.len() >= MIN_PAYLOAD_BYTES)
            && is_elf(p)
    });
    let (source, what) = match chosen {
        Some((p, what)) => {
            if p != Path::new(PAYLOAD_BINARY) {
                warn(format!(
                    "{PAYLOAD_BINARY} is missing (run `cargo xtask setup --only debian` for cargo-web); \
                     packaging {} instead: numbers are not comparable with docs/benchmarks.md",
                    p.display()
                ));
            }
            (p.clone(), (*what).to_owned())
        }
        None => {
            warn(format!(
                "{PAYLOAD_BINARY} is missing and no other Rust binary of ≥ 20 MB was found; packaging \
                 cargo-forge-deb's own release build instead: numbers are not comparable with \
                 docs/benchmarks.md (run `cargo xtask setup --only debian`)"
            ));
            (
                forge_deb.to_path_buf(),
                "cargo-forge-deb's release build (fallback)".to_owned(),
            )
        }
    };
    let dest = dir.join("target/release").join(n);
    std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
    std::fs::copy(&source, &dest)
        .with_context(|| format!("could not copy {} to {}", source.display(), dest.display()))?;
    let binary_bytes = dest.metadata()?.len();
    let assets_bytes: u64 = [
        "README.md",
        "doc/guide.md",
        "doc/configuration.md",
        "doc/commands.md",
        "doc/completions.bash",
    ]
    .iter()
    .map(|f| dir.join(f))
    .chain(std::iter::once(dir.join(format!("doc/{n}.1.gz"))))
    .filter_map(|p| p.metadata().ok().map(|m| m.len()))
    .sum();
    let file = first_line(Command::new("file").arg("-b").arg(&source));
    status(
        "Payload",
        format!(
            "{} ({}, {}) + {} of assets, in {}",
            source.display(),
            what,
            megabytes(binary_bytes),
            megabytes(assets_bytes),
            dir.display()
        ),
    );
    Ok(json!({
        "crate": dir,
        "binary_source": source,
        "binary_description": what,
        "binary_bytes": binary_bytes,
        "binary_file": file,
        "assets_bytes": assets_bytes,
    }))
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

const MIT_LICENSE: &str = "MIT License

Copyright (c) 2026 cargo-forge bench

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the \"Software\"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
";

fn readme_text() -> String {
    format!(
        "# {PAYLOAD_NAME}\n\n\
         The payload `cargo xtask bench deb-package` packages: a prebuilt Rust binary (Debian's\n\
         cargo, renamed) with a README, a manual page, a bash completion and a few documents, the\n\
         shape of a typical command-line tool's package.\n\n\
         ## Installing\n\n\
         Install the package with `apt install ./{PAYLOAD_NAME}_{PAYLOAD_VERSION}-1_amd64.deb`; the\n\
         binary lands in `/usr/bin`, the documents in `/usr/share/doc/{PAYLOAD_NAME}`.\n\n\
         ## Using\n\n\
         Run `{PAYLOAD_NAME} --help` for the list of commands; `man {PAYLOAD_NAME}` has the details.\n"
    )
}

/// Deterministic, text-like documentation: `sections` sections of a few paragraphs each.
fn doc_text(title: &str, sections: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "package",
        "build",
        "target",
        "binary",
        "release",
        "profile",
        "manifest",
        "workspace",
        "dependency",
        "feature",
        "version",
        "archive",
        "compress",
        "install",
        "directory",
        "option",
        "configuration",
        "value",
        "default",
        "command",
        "output",
        "error",
        "warning",
        "file",
        "path",
        "when",
        "with",
        "from",
        "into",
        "each",
        "every",
        "is",
        "are",
        "and",
        "or",
        "of",
        "to",
        "a",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d ^ title.len() as u64;
    let mut next = move || {
        // xorshift64*: deterministic pseudo-random word choice.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut text = format!("# {title}\n");
    for s in 1..=sections {
        text.push_str(&format!("\n## {title} {s}\n\n"));
        for _ in 0..3 {
            let mut line_len = 0;
            let words = 40 + (next() % 40) as usize;
            for w in 0..words {
                let word = WORDS[(next() % WORDS.len() as u64) as usize];
                if line_len + word.len() + 1 > 96 {
                    text.push('\n');
                    line_len = 0;
                } else if w > 0 {
                    text.push(' ');
                    line_len += 1;
                }
                text.push_str(word);
                line_len += word.len();
            }
            text.push_str(".\n\n");
        }
    }
    text
}

fn man_text() -> String {
    let mut text = format!(
        ".TH {} 1 2026-11-22 {PAYLOAD_VERSION} \"User Commands\"\n.SH NAME\n{PAYLOAD_NAME} \\- benchmark payload\n.SH SYNOPSIS\n.B {PAYLOAD_NAME}\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR\n.SH DESCRIPTION\n",
        PAYLOAD_NAME.to_uppercase()
    );
    for para in doc_text("Options", 30)
        .split("\n\n")
        .filter(|p| !p.starts_with('#'))
    {
        text.push_str(".PP\n");
        text.push_str(para.trim());
        text.push('\n');
    }
    text
}

fn completions_text() -> String {
    let commands = [
        "build",
        "check",
        "clean",
        "doc",
        "new",
        "init",
        "add",
        "remove",
        "run",
        "test",
        "bench",
        "update",
        "search",
        "publish",
        "install",
        "uninstall",
    ];
    let mut text = format!("# bash completion for {PAYLOAD_NAME}\n_{}() {{\n    local cur=${{COMP_WORDS[COMP_CWORD]}}\n    case $COMP_CWORD in\n", PAYLOAD_NAME.replace('-', "_"));
    text.push_str(&format!(
        "        1) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")) ;;\n",
        commands.join(" ")
    ));
    text.push_str("        *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n    esac\n}\n");
    text.push_str(&format!(
        "complete -F _{} {PAYLOAD_NAME}\n",
        PAYLOAD_NAME.replace('-', "_")
    ));
    text
}

// ---------------------------------------------------------------------------------------------
// noop-overhead

fn noop_overhead(forge_deb: &Path, bench_dir: &Path, opts: &Options) -> Result<BenchResult> {
    let runs = opts.runs;
    let krate = bench_dir.join("noop").join("cli-tool");
    if krate.exists() {
        std::fs::remove_dir_all(&krate)
            .with_context(|| format!("could not remove {}", krate.display()))?;
    }
    copy_dir(&cmd::project_root().join(NOOP_FIXTURE), &krate, true)?;
    status("Copied", format!("{NOOP_FIXTURE} to {}", krate.display()));
    let debian_out = krate.join("target/debian");

    let ours_cmd = || forge_deb_cmd(forge_deb, &krate);
    let peer_cmd = || {
        let mut c = cmd::cargo();
        c.args(["build", "--release", "--manifest-path"])
            .arg(krate.join("Cargo.toml"));
        neutral_env(&mut c, &krate);
        c
    };
    let ours_shown = cmd::display(&ours_cmd());
    let peer_shown = cmd::display(&peer_cmd());

    // Warm-up: build everything once each way and package once.
    status("Warming", format!("`{peer_shown}` then `{ours_shown}`"));
    let first_build = timed(&mut peer_cmd())?;
    let first_package = timed(&mut ours_cmd())?;

    let mut ours = Series::default();
    let mut peer = Series::default();
    let mut rebuilt = Vec::new();
    // "Nothing changed" includes the package of the previous run: it stays where it is, as it
    // would for a user, so an incremental cargo forge-deb may skip work. It must still be there.
    for round in 0..=runs {
        let waited_o = idle(opts, round);
        let o = timed(&mut ours_cmd())?;
        let waited_p = idle(opts, round);
        let p = timed(&mut peer_cmd())?;
        single_deb(&debian_out)?;
        for (who, s) in [("cargo forge-deb", &o), ("cargo build", &p)] {
            if String::from_utf8_lossy(&s.output.stderr).contains("Compiling ") {
                rebuilt.push(format!("{who} (round {round})"));
            }
        }
        let what = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round}/{runs}")
        };
        status(
            "Measured",
            format!(
                "noop-overhead {what}: ours {}, cargo build {}",
                describe_sample(&o),
                describe_sample(&p)
            ),
        );
        ours.record(round, &o, waited_o);
        peer.record(round, &p, waited_p);
    }
    if !rebuilt.is_empty() {
        warn(format!(
            "cargo compiled something in a run meant to be a no-op: {}",
            rebuilt.join(", ")
        ));
    }
    let diffs: Vec<f64> = ours
        .times
        .iter()
        .zip(&peer.times)
        .map(|(o, p)| o - p)
        .collect();
    let extra = median(&diffs);
    let (mo, mp) = (ours.median(), peer.median());
    let met = extra <= NOOP_MAX_EXTRA_SECS && rebuilt.is_empty();
    let target = format!("extra <= {NOOP_MAX_EXTRA_SECS} s (median of pairs: {extra:+.3} s)");
    let rows = vec![Row {
        label: "noop-overhead".into(),
        ours: secs(mo),
        peer: secs(mp),
        ratio: format!("{:.2}x", mo / mp),
        target: target.clone(),
        met: Some(met),
    }];
    Ok(BenchResult {
        rows,
        json: json!({
            "name": "noop-overhead",
            "crate": krate,
            "ours": { "command": ours_shown, "warmup_first_package_s": round(first_package.secs, 4), "times": ours.json() },
            "peer": { "command": peer_shown, "warmup_first_build_s": round(first_build.secs, 4), "times": peer.json() },
            "paired_differences_s": diffs.iter().map(|d| round(*d, 4)).collect::<Vec<_>>(),
            "median_extra_s": round(extra, 4),
            "difference_of_medians_s": round(mo - mp, 4),
            "rebuilt_in_measured_runs": rebuilt,
            "target": target,
            "met": met,
        }),
        contention: ours.background_cores().max(peer.background_cores()),
        levels: Vec::new(),
    })
}

/// Copies a directory tree (without a top-level `target/`).
fn copy_dir(src: &Path, dest: &Path, top: bool) -> Result<()> {
    std::fs::create_dir_all(dest)
        .with_context(|| format!("could not create {}", dest.display()))?;
    for entry in
        std::fs::read_dir(src).with_context(|| format!("could not read {}", src.display()))?
    {
        let entry = entry.with_context(|| format!("could not read {}", src.display()))?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !(top && entry.file_name() == "target") {
                copy_dir(&from, &to, false)?;
            }
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)
                .with_context(|| format!("could not create symlink {}", to.display()))?;
        } else {
            std::fs::copy(&from, &to).with_context(|| {
                format!("could not copy {} to {}", from.display(), to.display())
            })?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The machine and the tools

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: Option<u64> = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        });
    json!({
        "nproc": first_line(&mut Command::new("nproc")).and_then(|n| n.parse::<u32>().ok()),
        "available_parallelism": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": cpu_field("model name"),
        "cpu_mhz": cpu_field("cpu MHz"),
        "mem_total_kib": mem_kib,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        "os": os,
        "hypervisor": cpuinfo.lines().any(|l| l.starts_with("flags") && l.contains(" hypervisor")),
    })
}

fn tool_versions(forge_deb: &Path, tools: &Tools) -> Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let lzma = |bin: &Path| -> Value {
        let out = cmd::probe(Command::new("ldd").arg(bin));
        match out {
            Some(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                match text.lines().find(|l| l.contains("liblzma")) {
                    Some(l) => json!(format!("dynamic: {}", l.trim())),
                    None => json!("static (bundled in the binary)"),
                }
            }
            None => Value::Null,
        }
    };
    json!({
        "cargo-forge-deb": first_line(Command::new(forge_deb).args(["forge-deb", "--version"])),
        "cargo-forge-deb_path": forge_deb,
        "cargo-forge-deb_liblzma": lzma(forge_deb),
        "cargo-deb": cargo_deb_version(&tools.cargo_deb),
        "cargo-deb_path": tools.cargo_deb,
        "cargo-deb_liblzma": lzma(&tools.cargo_deb),
        "system_liblzma": first_line(Command::new("dpkg-query").args(["-W", "-f=${Version}\n", "liblzma5:amd64"])),
        "cargo": first_line(Command::new(&cargo).arg("--version")),
        "rustc": first_line(Command::new(&rustc).arg("--version")),
        "strip": first_line(Command::new("strip").arg("--version")),
        "buildah": first_line(Command::new("buildah").arg("--version")),
        "skopeo": first_line(Command::new("skopeo").arg("--version")),
        "docker-registry": first_line(Command::new("dpkg-query").args(["-W", "-f=docker-registry ${Version}\n", "docker-registry"])),
        "qemu-user": first_line(Command::new("qemu-aarch64").arg("--version")),
        "gpg": first_line(Command::new("gpg").arg("--version")),
        "debian_rustc": first_line(Command::new("/usr/bin/rustc").arg("-V")),
        "dpkg-shlibdeps": first_line(Command::new("dpkg-query").args(["-W", "-f=dpkg-dev ${Version}\n", "dpkg-dev"])),
    })
}

fn workspace_state() -> Value {
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.args(args).current_dir(cmd::project_root());
        cmd::probe(&mut c)
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    json!({
        "commit": git(&["rev-parse", "HEAD"]),
        "dirty_files": git(&["status", "--porcelain"]).map(|s| s.lines().count()),
    })
}

// ---------------------------------------------------------------------------------------------
// Time stamps (UTC, without a date crate)

/// `(year, month, day, hour, minute, second)` of a time, in UTC.
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn compact_stamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(a: &[&str]) -> Vec<String> {
        strings(a)
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

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_339_425); // 2026-11-22T09:23:45Z
        assert_eq!(rfc3339(t), "2026-11-22T09:23:45Z");
        assert_eq!(compact_stamp(t), "20261122T092345Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn doc_text_is_deterministic() {
        assert_eq!(doc_text("Guide", 3), doc_text("Guide", 3));
        assert!(doc_text("Guide", 3).lines().all(|l| l.len() <= 100));
    }
}

//! What every benchmark shares: timing a child process (wall and CPU time, the contention of
//! other processes from `/proc`), waiting for an idle machine, medians and the measured series,
//! the rows and results a benchmark returns, and starting our release binaries in a neutral
//! environment. It is apart from the benchmarks so that each benchmark module holds only what it
//! measures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::Options;
use crate::cmd::{self, note, status, warn};

// ---------------------------------------------------------------------------------------------
// Measuring

/// One timed run of a child process.
pub(super) struct Sample {
    pub(super) secs: f64,
    /// CPU time (user + system) of the child and the descendants it waited for.
    pub(super) cpu_s: f64,
    /// CPU time the rest of the machine used meanwhile (other processes): contention.
    pub(super) foreign_cpu_s: f64,
    pub(super) output: Output,
}

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on every Linux architecture).
pub(super) const USER_HZ: f64 = 100.0;

/// CPU time of the waited-for children of this process, from `/proc/self/stat`.
pub(super) fn children_cpu_s() -> f64 {
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
pub(super) fn machine_busy_s() -> f64 {
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
pub(super) fn background_cores(window: std::time::Duration) -> f64 {
    let before = machine_busy_s();
    std::thread::sleep(window);
    (machine_busy_s() - before) / window.as_secs_f64()
}

/// Waits (at most `max`) until the machine is nearly idle, so that a run does not share the
/// cores with someone else's work. Returns the seconds waited and the last background load.
pub(super) fn wait_for_idle(max: std::time::Duration) -> (f64, f64) {
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
pub(super) fn idle(opts: &Options, round: usize) -> f64 {
    if round == 0 || opts.idle_wait.is_zero() {
        return 0.0;
    }
    wait_for_idle(opts.idle_wait).0
}

/// `1.234 s (cpu 2.10 s)`, plus the contention when other processes used the cores meanwhile.
pub(super) fn describe_sample(s: &Sample) -> String {
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
pub(super) fn timed(cmd: &mut Command) -> Result<Sample> {
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

pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(super) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub(super) fn stats(values: &[f64]) -> Value {
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
pub(super) struct Series {
    pub(super) times: Vec<f64>,
    pub(super) cpu: Vec<f64>,
    pub(super) foreign: Vec<f64>,
    pub(super) waited: Vec<f64>,
    pub(super) warmup_s: f64,
}

impl Series {
    /// Records `sample` (round 0 is the warm-up) after `waited` seconds of waiting for idle.
    pub(super) fn record(&mut self, round: usize, sample: &Sample, waited: f64) {
        if round == 0 {
            self.warmup_s = sample.secs;
            return;
        }
        self.times.push(sample.secs);
        self.cpu.push(sample.cpu_s);
        self.foreign.push(sample.foreign_cpu_s);
        self.waited.push(waited);
    }

    pub(super) fn median(&self) -> f64 {
        median(&self.times)
    }

    /// Cores used by other processes during the runs, on average.
    pub(super) fn background_cores(&self) -> f64 {
        let wall: f64 = self.times.iter().sum();
        if wall > 0.0 {
            self.foreign.iter().sum::<f64>() / wall
        } else {
            0.0
        }
    }

    pub(super) fn json(&self) -> Value {
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

pub(super) fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// A row of the summary table.
pub(super) struct Row {
    pub(super) label: String,
    pub(super) ours: String,
    pub(super) peer: String,
    pub(super) ratio: String,
    pub(super) target: String,
    /// `None`: informational row without a target.
    pub(super) met: Option<bool>,
}

pub(super) struct BenchResult {
    pub(super) rows: Vec<Row>,
    pub(super) json: Value,
    /// The most cores other processes used, on average, during one command's measured runs.
    pub(super) contention: f64,
    /// deb-package with `--xz-levels`: one row per level of cargo forge-deb (see [`level_row`]).
    pub(super) levels: Vec<[String; 6]>,
}

pub(super) fn secs(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.3} s")
    } else {
        format!("{v:.2} s")
    }
}

pub(super) fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

// ---------------------------------------------------------------------------------------------
// The binaries under test

/// `cargo build --release -p BIN --bin BIN` of one of our commands; returns the executable cargo
/// reports.
pub(super) fn build_release_bin(bin: &str) -> Result<PathBuf> {
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
pub(super) fn cargo_deb_version(bin: &Path) -> Option<String> {
    first_line(Command::new(bin).arg("--version"))
}

pub(super) fn first_line(cmd: &mut Command) -> Option<String> {
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
pub(super) fn forge_deb_cmd(forge_deb: &Path, krate: &Path) -> Command {
    let mut c = Command::new(forge_deb);
    c.arg("forge-deb")
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"));
    neutral_env(&mut c, krate);
    c
}

/// Started in the crate, without the variables that would move its target dir or target.
pub(super) fn neutral_env(c: &mut Command, krate: &Path) {
    c.current_dir(krate)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_TARGET_DIR");
}

/// Copies a directory tree (without a top-level `target/`).
pub(super) fn copy_dir(src: &Path, dest: &Path, top: bool) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}

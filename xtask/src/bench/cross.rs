//! `cross-vs-emulated`: an arm64 release build of `tests/fixtures/bench-app`, cross-compiled by
//! `cargo forge-deb --toolchain /usr --target aarch64-unknown-linux-gnu` (build and package) vs
//! `cargo build --release` run by Debian's arm64 rustc-web and cargo-web inside an arm64 Debian
//! root, every arm64 program executed by qemu-user through binfmt_misc — the method the seeds'
//! CI used. Same sources (the vendored copy, offline), same compiler version, clean target
//! directories on both sides.
//!
//! The emulated root is `target/bench/emu-root`, made once: a copy of the clean bookworm arm64
//! root `cargo forge-deb --install-test` caches (`~/.cache/cargo-forge/roots`), or a fresh
//! `debootstrap --foreign` when there is none, plus bookworm-updates and -security sources (for
//! the same rustc-web as the host's) and `apt-get install rustc-web cargo-web gcc libc6-dev` under
//! qemu. It is stamped only when complete.
//!
//! The emulated build is slow (tens of minutes on 2 cores), so it runs `--emulated-runs` times
//! (default once) under a watchdog (`--emulated-timeout`, default 45 min) that kills its process
//! group and records the limit as a lower bound of its time ("≥ N s"), which makes the ratio an
//! upper bound. The cross build runs `--runs` times after a warm-up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::app::{self, App};
use super::common::{idle, round, secs, BenchResult, Row, Series};
use super::Options;
use crate::cmd::{self, note, status, warn};

/// Target: the cross build at least this many times faster.
const SPEEDUP: f64 = 10.0;
const SUITE: &str = "bookworm";
const ROOT_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "gcc", "libc6-dev"];
const STAMP: &str = ".forge-bench-root-complete";
/// Where the app is copied inside the root.
const INSIDE: &str = "build/forge-bench-app";
const BINFMT: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";
const AARCH64: u16 = 183;

pub fn run(forge_deb: &Path, app: &App, bench_dir: &Path, opts: &Options) -> Result<BenchResult> {
    check_prerequisites()?;
    let work = bench_dir.join("cross");
    std::fs::create_dir_all(&work)
        .with_context(|| format!("could not create {}", work.display()))?;
    let root = ensure_root(bench_dir)?;
    let root_rustc =
        super::common::first_line(Command::new("chroot").arg(&root).args(["rustc", "-V"]));
    let host_rustc = super::common::first_line(Command::new("/usr/bin/rustc").arg("-V"));
    if root_rustc != host_rustc {
        warn(format!(
            "the emulated root's compiler ({}) is not the host's ({}): the builds differ in more than emulation",
            root_rustc.as_deref().unwrap_or("?"),
            host_rustc.as_deref().unwrap_or("?")
        ));
    }

    // Ours: a copy of the app, its target/ removed before every run.
    let krate = work.join("forge-bench-app");
    app::fresh_copy(app, &krate)?;
    let ours_cmd = || {
        let mut c = super::common::forge_deb_cmd(forge_deb, &krate);
        c.args([
            "--toolchain",
            app::TOOLCHAIN,
            "--target",
            app::ARM64_TARGET,
            "--offline",
        ]);
        c
    };
    let ours_shown = cmd::display(&ours_cmd());
    let inside = root.join(INSIDE);
    let peer_cmd = || peer_cmd(&root);
    let peer_shown = cmd::display(&peer_cmd());
    status("Running", format!("cross-vs-emulated: {ours_shown}"));
    status(
        "Running",
        format!(
            "cross-vs-emulated: {peer_shown} (arm64 programs through qemu-user; {} run(s), timeout {} s)",
            opts.emulated_runs,
            opts.emulated_timeout.as_secs()
        ),
    );

    let mut ours = Series::default();
    let mut peer_runs: Vec<Value> = Vec::new();
    let mut peer_times: Vec<f64> = Vec::new();
    let mut timed_out = false;
    for round_no in 0..=opts.runs {
        app::remove(&krate.join("target"))?;
        let waited = idle(opts, round_no);
        let o = super::common::timed(&mut ours_cmd())?;
        app::check_elf(
            &krate
                .join("target")
                .join(app::ARM64_TARGET)
                .join("release")
                .join(app::NAME),
            AARCH64,
        )?;
        let what = if round_no == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round_no}/{}", opts.runs)
        };
        status(
            "Measured",
            format!(
                "cross-vs-emulated {what}: cross {}",
                super::common::describe_sample(&o)
            ),
        );
        ours.record(round_no, &o, waited);
        if round_no >= 1 && round_no <= opts.emulated_runs {
            let (entry, secs, stopped) = emulated_run(app, &root, &inside, &work, round_no, opts)?;
            timed_out |= stopped;
            peer_times.push(secs);
            peer_runs.push(entry);
        }
    }

    let ours_median = ours.median();
    let peer_median = super::common::median(&peer_times);
    let ratio = ours_median / peer_median;
    let speedup = peer_median / ours_median;
    let bound = if timed_out { "<= " } else { "" };
    // A timed-out emulated build only bounds the ratio from above: below the target it is met,
    // above it undetermined (not missed).
    let met = ratio <= 1.0 / SPEEDUP;
    let verdict = if met || !timed_out { Some(met) } else { None };
    if verdict.is_none() {
        warn(format!(
            "cross-vs-emulated is undetermined: the emulated build was stopped too early to tell; \
             raise --emulated-timeout above {:.0} s",
            ours_median * SPEEDUP
        ));
    }
    let target = format!(
        "time <= {:.1}x (>= {SPEEDUP:.0}x faster; measured {}{speedup:.1}x)",
        1.0 / SPEEDUP,
        if timed_out { ">= " } else { "" }
    );
    let peer_shown_time = if timed_out {
        format!(">= {}", secs(peer_median))
    } else {
        secs(peer_median)
    };
    let contention = ours.background_cores();
    Ok(BenchResult {
        rows: vec![Row {
            label: "cross-vs-emulated".into(),
            ours: secs(ours_median),
            peer: peer_shown_time,
            ratio: format!("{bound}{ratio:.3}x"),
            target: target.clone(),
            met: verdict,
        }],
        json: json!({
            "name": "cross-vs-emulated",
            "app": app.json,
            "ours": { "command": ours_shown, "times": ours.json() },
            "peer": {
                "command": peer_shown,
                "root": root,
                "root_rustc": root_rustc,
                "host_rustc": host_rustc,
                "runs": peer_runs,
                "median_s": round(peer_median, 2),
                "timeout_s": opts.emulated_timeout.as_secs(),
                "timed_out": timed_out,
            },
            "time_ratio": round(ratio, 4),
            "time_ratio_is_upper_bound": timed_out,
            "speedup": round(speedup, 2),
            "target": target,
            "met": verdict,
        }),
        contention,
        levels: Vec::new(),
    })
}

/// Refuses to start without root (debootstrap, chroot, mount) or qemu-aarch64 in binfmt_misc.
fn check_prerequisites() -> Result<()> {
    if !app::is_root() {
        bail!("`cross-vs-emulated` needs root (debootstrap, chroot, mount)");
    }
    let binfmt = std::fs::read_to_string(BINFMT).unwrap_or_default();
    if !binfmt.starts_with("enabled") {
        bail!(
            "qemu-aarch64 is not registered in binfmt_misc ({BINFMT}); run `cargo xtask setup --only debian`"
        );
    }
    Ok(())
}

/// The peer: `cargo build --release --offline` of the app inside the arm64 root, in a clean
/// environment.
fn peer_cmd(root: &Path) -> Command {
    let mut c = Command::new("chroot");
    c.arg(root)
        .args(["/usr/bin/env", "-i", "-C"])
        .arg(format!("/{INSIDE}"))
        .args([
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOME=/root",
            "CARGO_HOME=/build/cargo-home",
            "CARGO_TERM_COLOR=never",
            "cargo",
            "build",
            "--release",
            "--offline",
        ]);
    c
}

/// One emulated build of a clean copy of the app inside the root, under the watchdog: its JSON
/// entry, its seconds (at least, when stopped) and whether it was stopped.
fn emulated_run(
    app: &App,
    root: &Path,
    inside: &Path,
    work: &Path,
    round_no: usize,
    opts: &Options,
) -> Result<(Value, f64, bool)> {
    // A clean copy of the same sources inside the root.
    app::fresh_copy(app, inside)?;
    app::remove(&root.join("build/cargo-home"))?;
    let waited = idle(opts, round_no);
    let log = work.join(format!("emulated-{round_no}.log"));
    let _proc = ProcMount::mount(root)?;
    let r = timed_limit(&mut peer_cmd(root), opts.emulated_timeout, &log)?;
    drop(_proc);
    Ok(match r {
        Limited::Done(s) => {
            app::check_elf(&inside.join("target/release").join(app::NAME), AARCH64)?;
            status(
                "Measured",
                format!(
                    "cross-vs-emulated run {round_no}: emulated {}",
                    super::common::describe_sample(&s)
                ),
            );
            let entry = json!({
                "secs": round(s.secs, 2),
                "cpu_s": round(s.cpu_s, 1),
                "other_processes_cpu_s": round(s.foreign_cpu_s, 1),
                "waited_for_idle_s": round(waited, 1),
                "timed_out": false,
                "log": log,
            });
            (entry, s.secs, false)
        }
        Limited::TimedOut {
            secs,
            cpu_s,
            foreign_cpu_s,
        } => {
            warn(format!(
                "the emulated build did not finish within {} s and was stopped: its time is recorded as >= {} s",
                opts.emulated_timeout.as_secs(),
                secs.floor()
            ));
            let entry = json!({
                "secs": round(secs, 2),
                "cpu_s": round(cpu_s, 1),
                "other_processes_cpu_s": round(foreign_cpu_s, 1),
                "waited_for_idle_s": round(waited, 1),
                "timed_out": true,
                "log": log,
            });
            (entry, secs, true)
        }
    })
}

use serde_json::Value;

/// The result of a run under a watchdog.
pub(super) enum Limited {
    Done(super::common::Sample),
    TimedOut {
        secs: f64,
        cpu_s: f64,
        foreign_cpu_s: f64,
    },
}

/// Runs `cmd` in its own process group with stdout and stderr to `log`; past `limit` the whole
/// group is killed. Fails (quoting the log's tail) when the command fails.
pub(super) fn timed_limit(cmd: &mut Command, limit: Duration, log: &Path) -> Result<Limited> {
    use std::os::unix::process::CommandExt;
    let shown = cmd::display(cmd);
    let file = std::fs::File::create(log)
        .with_context(|| format!("could not create {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0);
    let (cpu0, busy0) = (
        super::common::children_cpu_s(),
        super::common::machine_busy_s(),
    );
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{shown}`"))?;
    let pgid = child.id();
    loop {
        if let Some(status) = child.try_wait()? {
            let secs = start.elapsed().as_secs_f64();
            let cpu_s = super::common::children_cpu_s() - cpu0;
            let foreign_cpu_s = (super::common::machine_busy_s() - busy0 - cpu_s).max(0.0);
            let text = std::fs::read(log).unwrap_or_default();
            if !status.success() {
                bail!(
                    "command `{shown}` failed ({status}):\n{}",
                    super::common::tail(String::from_utf8_lossy(&text).trim_end(), 40)
                );
            }
            return Ok(Limited::Done(super::common::Sample {
                secs,
                cpu_s,
                foreign_cpu_s,
                output: std::process::Output {
                    status,
                    stdout: Vec::new(),
                    stderr: text,
                },
            }));
        }
        if start.elapsed() >= limit {
            let secs = start.elapsed().as_secs_f64();
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            let _ = child.wait();
            let cpu_s = super::common::children_cpu_s() - cpu0;
            let foreign_cpu_s = (super::common::machine_busy_s() - busy0 - cpu_s).max(0.0);
            return Ok(Limited::TimedOut {
                secs,
                cpu_s,
                foreign_cpu_s,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `/proc` mounted inside a root while it lives (rustc and cargo read `/proc/self`).
struct ProcMount(PathBuf);

impl ProcMount {
    fn mount(root: &Path) -> Result<ProcMount> {
        let target = root.join("proc");
        if is_mounted(&target) {
            return Ok(ProcMount(PathBuf::new()));
        }
        cmd::output(
            Command::new("mount")
                .args(["-t", "proc", "proc"])
                .arg(&target),
        )?;
        Ok(ProcMount(target))
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = cmd::probe(Command::new("umount").arg("-l").arg(&self.0));
        }
    }
}

fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let p = path.display().to_string();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p.as_str()))
}

/// The arm64 root with Debian's toolchain, built when missing (see the module doc).
fn ensure_root(bench_dir: &Path) -> Result<PathBuf> {
    let root = bench_dir.join("emu-root");
    if root.join(STAMP).is_file() {
        return Ok(root);
    }
    let tmp = bench_dir.join("emu-root.tmp");
    for dir in [&root, &tmp] {
        if dir.exists() {
            let proc_dir = dir.join("proc");
            if is_mounted(&proc_dir) {
                cmd::output(Command::new("umount").arg("-l").arg(&proc_dir))?;
            }
            app::remove(dir)?;
        }
    }
    let started = Instant::now();
    let mirror = std::env::var("FORGE_DEBIAN_MIRROR")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned());
    let cached = cache_dir().join(format!("{SUITE}-arm64-minbase"));
    if cached.join(".forge-root-complete").is_file() {
        status(
            "Copying",
            format!(
                "the clean arm64 root {} (cached by cargo forge-deb --install-test)",
                cached.display()
            ),
        );
        cmd::output(
            Command::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(&cached)
                .arg(&tmp),
        )?;
    } else {
        status(
            "Creating",
            format!("a Debian {SUITE} arm64 root (debootstrap from {mirror}; a few minutes, once)"),
        );
        cmd::output(
            Command::new("debootstrap")
                .args(["--variant=minbase", "--arch=arm64", "--foreign", SUITE])
                .arg(&tmp)
                .arg(&mirror)
                .env("LC_ALL", "C"),
        )?;
        cmd::output(
            Command::new("chroot")
                .arg(&tmp)
                .args(["/debootstrap/debootstrap", "--second-stage"])
                .env("LC_ALL", "C"),
        )?;
    }
    let security = mirror.replace("/debian", "/debian-security");
    std::fs::write(
        tmp.join("etc/apt/sources.list"),
        format!(
            "deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\ndeb {security} {SUITE}-security main\n"
        ),
    )
    .context("could not write the emulated root's sources.list")?;
    if let Ok(resolv) = std::fs::read("/etc/resolv.conf") {
        let _ = std::fs::remove_file(tmp.join("etc/resolv.conf"));
        std::fs::write(tmp.join("etc/resolv.conf"), resolv)
            .context("could not write the emulated root's resolv.conf")?;
    }
    status(
        "Installing",
        format!(
            "{} in the arm64 root (apt under qemu; a few minutes, once)",
            ROOT_PACKAGES.join(" ")
        ),
    );
    {
        let _proc = ProcMount::mount(&tmp)?;
        let apt = |args: &[&str]| {
            let mut c = Command::new("chroot");
            c.arg(&tmp)
                .arg("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("LC_ALL", "C");
            cmd::output(&mut c).map(|_| ())
        };
        apt(&["update", "-q"])?;
        let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
        install.extend(ROOT_PACKAGES);
        apt(&install)?;
        apt(&["clean"])?;
    }
    std::fs::create_dir_all(tmp.join("build")).context("could not create /build in the root")?;
    let rustc = super::common::first_line(Command::new("chroot").arg(&tmp).args(["rustc", "-V"]));
    std::fs::write(
        tmp.join(STAMP),
        format!(
            "suite={SUITE}\narch=arm64\npackages={}\nrustc={}\n",
            ROOT_PACKAGES.join(" "),
            rustc.as_deref().unwrap_or("?")
        ),
    )
    .context("could not stamp the emulated root")?;
    std::fs::rename(&tmp, &root)
        .with_context(|| format!("could not move {} to {}", tmp.display(), root.display()))?;
    note(format!(
        "the emulated root took {:.0} s to prepare (not part of any measurement)",
        started.elapsed().as_secs_f64()
    ));
    Ok(root)
}

/// Where cargo forge-deb caches its clean roots: `FORGE_ROOTS_CACHE`, else
/// `$XDG_CACHE_HOME/cargo-forge/roots` (or `~/.cache/…`).
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FORGE_ROOTS_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    crate::cmd::user_cache_dir()
        .unwrap_or_else(|| PathBuf::from("/root/.cache/cargo-forge"))
        .join("roots")
}

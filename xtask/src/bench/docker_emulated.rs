//! `docker-emulated`: an arm64 image from source, the seeds' way (a multi-stage Dockerfile whose
//! build stage runs `cargo build --release` in an arm64 Debian image under qemu-user) against
//! `cargo forge-image --platform linux/arm64 --push` (a cross build). The daemon, the registry
//! and the base are [`super::docker`]'s; this file holds what only this benchmark does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::app::{self, App};
use super::common::{idle, round, secs, BenchResult, Row, Series};
use super::cross::{timed_limit, Limited};
use super::docker::{check_arch, what, Dockerd, Stage};
use super::image::forget_layers;
use super::Options;
use crate::cmd::{self, note, status, warn};

const SPEEDUP: f64 = 15.0;
const RUST_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "gcc", "libc6-dev"];

/// Refuses to start unless qemu-aarch64 is in binfmt_misc with the F flag (docker's builds run
/// arm64 programs in their own root, where the interpreter path does not exist).
fn check_binfmt_fixed() -> Result<()> {
    let binfmt =
        std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").unwrap_or_default();
    let fixed = binfmt
        .lines()
        .find_map(|l| l.strip_prefix("flags: "))
        .is_some_and(|f| f.contains('F'));
    if !binfmt.starts_with("enabled") || !fixed {
        bail!("qemu-aarch64 is not registered in binfmt_misc with the F flag; run `cargo xtask setup --only debian`");
    }
    Ok(())
}

/// The build context of `docker-emulated`, under `work`: the vendored sources and a two-stage
/// Dockerfile (cargo build in `rust_image` under qemu, the binary onto the base).
fn write_emulated_context(
    work: &Path,
    app: &App,
    rust_image: &str,
    base_ref: &str,
) -> Result<PathBuf> {
    let context = work.join("context");
    app::fresh_copy(app, &context)?;
    std::fs::write(context.join(".dockerignore"), "target\nDockerfile\n")
        .context("could not write .dockerignore")?;
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {rust_image} AS build\nWORKDIR /build/{n}\nCOPY . .\nRUN cargo build --release --offline\n\nFROM {}\nCOPY --from=build /build/{n}/target/release/{n} /usr/local/bin/{n}\nUSER 65532\nENTRYPOINT [\"/usr/local/bin/{n}\"]\n",
            base_ref,
            n = app::NAME
        ),
    )
    .context("could not write the Dockerfile")?;
    Ok(context)
}

/// `docker build --platform linux/arm64` of the emulated context, without network or cache.
fn emulated_build_cmd(docker: &Dockerd, peer_ref: &str, context: &Path) -> Command {
    let mut b = docker.cmd();
    b.args([
        "build",
        "--no-cache",
        "--network",
        "none",
        "--platform",
        "linux/arm64",
        "-t",
        peer_ref,
    ])
    .arg(context);
    b
}

/// One emulated round of the peer: a clean docker, the registry seeded, `docker build` under
/// the watchdog then `docker push`: its JSON entry, its seconds (at least, when stopped) and
/// whether it was stopped.
fn emulated_round(
    docker: &Dockerd,
    stage: &mut Stage,
    peer_build: &dyn Fn() -> Command,
    peer_push: &dyn Fn() -> Command,
    peer_ref: &str,
    round_no: usize,
    opts: &Options,
) -> Result<(Value, f64, bool)> {
    docker.quiet(&["rmi", "--force", peer_ref]);
    docker.quiet(&["image", "prune", "--force"]);
    stage.seed()?;
    let waited = idle(opts, round_no);
    let log = stage.work.join(format!("docker-build-{round_no}.log"));
    Ok(
        match timed_limit(&mut peer_build(), opts.emulated_timeout, &log)? {
            Limited::Done(b) => {
                let p = super::common::timed(&mut peer_push())?;
                check_arch(peer_ref, "arm64")?;
                let total = b.secs + p.secs;
                status(
                    "Measured",
                    format!(
                        "docker-emulated run {round_no}: docker build {} + push {}",
                        super::common::describe_sample(&b),
                        super::common::describe_sample(&p)
                    ),
                );
                let entry = json!({
                    "secs": round(total, 2),
                    "build_s": round(b.secs, 2),
                    "push_s": round(p.secs, 2),
                    "cpu_s": round(b.cpu_s + p.cpu_s, 1),
                    "other_processes_cpu_s": round(b.foreign_cpu_s + p.foreign_cpu_s, 1),
                    "waited_for_idle_s": round(waited, 1),
                    "timed_out": false,
                    "log": log,
                });
                (entry, total, false)
            }
            Limited::TimedOut {
                secs: s,
                cpu_s,
                foreign_cpu_s,
            } => {
                warn(format!(
                "the emulated docker build did not finish within {} s and was stopped: its time is recorded as >= {} s",
                opts.emulated_timeout.as_secs(),
                s.floor()
            ));
                let entry = json!({
                    "secs": round(s, 2),
                    "cpu_s": round(cpu_s, 1),
                    "other_processes_cpu_s": round(foreign_cpu_s, 1),
                    "waited_for_idle_s": round(waited, 1),
                    "timed_out": true,
                    "log": log,
                });
                (entry, s, true)
            }
        },
    )
}

/// The arm64 image with Debian's rustc-web and cargo-web (the host's version), imported into
/// `docker` from a cached mmdebstrap tarball; returns its name.
fn rust_arm64_image(docker: &Dockerd, bench_dir: &Path) -> Result<String> {
    let version = super::common::first_line(Command::new("dpkg-query").args([
        "-W",
        "-f=${Version}",
        "rustc-web",
    ]))
    .context("rustc-web is not installed: run `cargo xtask setup --only debian`")?;
    let tag: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = format!("forge-bench/rust-arm64:{tag}");
    if cmd::probe(docker.cmd().args(["image", "inspect", &name]))
        .is_some_and(|o| o.status.success())
    {
        return Ok(name);
    }
    let dir = bench_dir.join("docker");
    let tarball = dir.join(format!("rust-arm64-{tag}.tar"));
    if !tarball.is_file() {
        let mirror = std::env::var("FORGE_DEBIAN_MIRROR")
            .ok()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned());
        let security = mirror.replace("/debian", "/debian-security");
        let include: Vec<String> = RUST_PACKAGES
            .iter()
            .map(|p| {
                if p.ends_with("-web") {
                    format!("{p}={version}")
                } else {
                    p.to_string()
                }
            })
            .collect();
        let started = Instant::now();
        status(
            "Creating",
            format!(
                "an arm64 bookworm root with {} (mmdebstrap, maintainer scripts under qemu; minutes, once)",
                include.join(" ")
            ),
        );
        let partial = tarball.with_extension("tar.partial");
        cmd::output(
            Command::new("mmdebstrap")
                .args([
                    "--quiet",
                    "--variant=minbase",
                    "--architectures=arm64",
                    "--format=tar",
                ])
                .arg(format!("--include={}", include.join(",")))
                .args([
                    "--dpkgopt=path-exclude=/usr/share/doc/*",
                    "--dpkgopt=path-exclude=/usr/share/man/*",
                    "--dpkgopt=path-exclude=/usr/share/locale/*",
                ])
                .arg("bookworm")
                .arg(&partial)
                .arg(format!("deb {mirror} bookworm main"))
                .arg(format!("deb {mirror} bookworm-updates main"))
                .arg(format!("deb {security} bookworm-security main"))
                .env("LC_ALL", "C.UTF-8"),
        )?;
        std::fs::rename(&partial, &tarball)
            .with_context(|| format!("could not move {}", partial.display()))?;
        note(format!(
            "the arm64 toolchain root took {:.0} s to make (not part of any measurement)",
            started.elapsed().as_secs_f64()
        ));
    }
    status("Importing", format!("{} as {name}", tarball.display()));
    cmd::output(
        docker
            .cmd()
            .args(["import", "--platform", "linux/arm64"])
            .args([
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ])
            .arg(&tarball)
            .arg(&name),
    )?;
    Ok(name)
}

/// `docker-emulated`.
pub fn run(forge_image: &Path, app: &App, bench_dir: &Path, opts: &Options) -> Result<BenchResult> {
    check_binfmt_fixed()?;
    let (mut stage, docker) = Stage::new(bench_dir, "docker-emulated")?;
    let rust_image = rust_arm64_image(&docker, bench_dir)?;
    let host = stage.proxy.host();
    let ours_ref = format!("{host}/bench/{}:arm64", app::NAME);
    let peer_ref = format!("{host}/bench/{}:arm64-docker", app::NAME);

    // Ours: a clean target dir every run.
    let krate = stage.app_copy(app, "forge-bench-app")?;
    let blob_cache = stage.work.join("forge-blob-cache");
    let ours_cmd = || {
        let mut c = Command::new(forge_image);
        c.arg("forge-image")
            .arg("--manifest-path")
            .arg(krate.join("Cargo.toml"))
            .args([
                "--toolchain",
                app::TOOLCHAIN,
                "--offline",
                "--platform",
                "linux/arm64",
                "--tag",
                &ours_ref,
                "--push",
            ]);
        super::common::neutral_env(&mut c, &krate);
        c.env("FORGE_BLOB_CACHE", &blob_cache);
        c
    };

    // The peer: the vendored sources as the build context, a two-stage Dockerfile.
    let context = write_emulated_context(&stage.work, app, &rust_image, &stage.base_ref())?;
    let peer_build = || emulated_build_cmd(&docker, &peer_ref, &context);
    let peer_push = || {
        let mut p = docker.cmd();
        p.args(["push", "--quiet", &peer_ref]);
        p
    };
    let ours_shown = cmd::display(&ours_cmd());
    let peer_shown = format!(
        "{} && {}",
        cmd::display(&peer_build()),
        cmd::display(&peer_push())
    );
    status("Running", format!("docker-emulated: {ours_shown}"));
    status(
        "Running",
        format!(
            "docker-emulated: {peer_shown} ({} run(s), timeout {} s)",
            opts.emulated_runs,
            opts.emulated_timeout.as_secs()
        ),
    );

    let mut ours = Series::default();
    let mut peer_runs = Vec::new();
    let mut peer_times = Vec::new();
    let mut timed_out = false;
    for round_no in 0..=opts.runs {
        app::remove(&krate.join("target"))?;
        forget_layers(&blob_cache)?;
        stage.seed()?;
        let waited = idle(opts, round_no);
        let o = super::common::timed(&mut ours_cmd())?;
        check_arch(&ours_ref, "arm64")?;
        status(
            "Measured",
            format!(
                "docker-emulated {}: ours {}",
                what(round_no, opts.runs),
                super::common::describe_sample(&o)
            ),
        );
        ours.record(round_no, &o, waited);
        if round_no >= 1 && round_no <= opts.emulated_runs {
            let (entry, secs, stopped) = emulated_round(
                &docker,
                &mut stage,
                &peer_build,
                &peer_push,
                &peer_ref,
                round_no,
                opts,
            )?;
            timed_out |= stopped;
            peer_times.push(secs);
            peer_runs.push(entry);
        }
    }
    docker.quiet(&["rmi", "--force", &peer_ref]);
    docker.quiet(&["image", "prune", "--force"]);
    let docker_version = docker.version();

    let ours_median = ours.median();
    let peer_median = super::common::median(&peer_times);
    let ratio = ours_median / peer_median;
    let speedup = peer_median / ours_median;
    let met = ratio <= 1.0 / SPEEDUP;
    let verdict = if met || !timed_out { Some(met) } else { None };
    let target = format!(
        "time <= {:.3}x (>= {SPEEDUP:.0}x faster; measured {}{speedup:.1}x)",
        1.0 / SPEEDUP,
        if timed_out { ">= " } else { "" }
    );
    Ok(BenchResult {
        rows: vec![Row {
            label: "docker-emulated".into(),
            ours: secs(ours_median),
            peer: if timed_out {
                format!(">= {}", secs(peer_median))
            } else {
                secs(peer_median)
            },
            ratio: format!("{}{ratio:.3}x", if timed_out { "<= " } else { "" }),
            target: target.clone(),
            met: verdict,
        }],
        json: json!({
            "name": "docker-emulated",
            "app": app.json,
            "docker": docker_version,
            "rust_image": rust_image,
            "ours": { "command": ours_shown, "times": ours.json() },
            "peer": {
                "command": peer_shown,
                "runs": peer_runs,
                "median_s": round(peer_median, 2),
                "timeout_s": opts.emulated_timeout.as_secs(),
                "timed_out": timed_out,
            },
            "time_ratio": round(ratio, 4),
            "speedup": round(speedup, 2),
            "target": target,
            "met": verdict,
        }),
        contention: ours.background_cores(),
        levels: Vec::new(),
    })
}

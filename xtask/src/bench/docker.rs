//! `docker-push` and `docker-emulated`: the way the seeds build images, with Debian's Docker 20.10
//! (`docker.io`, the classic builder), side by side with `cargo forge-image` on
//! `tests/fixtures/bench-app`, against the same loopback registry and base as `image-push`.
//!
//! * `docker-push`: the two-platform image of already-built binaries. Ours: `cargo forge-image
//!   --no-build --push`. Peer: `docker build --platform linux/ARCH` of a Dockerfile that COPYs the
//!   binary onto the base, per platform, `docker push` of both, `docker manifest create` and
//!   `docker manifest push` of the list.
//! * `docker-emulated` (in `docker_emulated.rs`, sharing the daemon and the stage of this file):
//!   an arm64 image from source. Ours: `cargo forge-image --platform
//!   linux/arm64 --push` from a clean target directory (cross build with Debian's toolchain,
//!   image, push). Peer: a multi-stage Dockerfile whose first stage runs `cargo build --release`
//!   in an arm64 Debian image with rustc-web and cargo-web — every arm64 program run by qemu-user
//!   through binfmt_misc — and whose second stage copies the binary onto the base:
//!   `docker build --platform linux/arm64` then `docker push`. Under a watchdog, `--emulated-runs`
//!   times, as in `cross-vs-emulated`.
//!
//! The daemon is started by the benchmark, as the tests start theirs (`tests/src/docker.rs`; xtask
//! cannot use the tests crate, so [`Dockerd`] is a smaller copy of it): its socket, exec root and
//! pidfile in a temporary directory, no default bridge, no iptables, vfs storage; its data root
//! is kept in `target/bench/docker/data`, so the imported arm64 toolchain image (a
//! `mmdebstrap --architectures=arm64` root, cached as a tarball in `target/bench/docker/` and named
//! after the host's rustc-web version, so both sides compile with the same compiler) and the pulled
//! base survive between runs. Every docker build runs with `--no-cache` (a CI runner starts
//! without one) and `--network none` (the sources are vendored).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::app::{self, App};
use super::common::{idle, round, secs, BenchResult, Row, Series};
use super::image::{
    blob_uploads_logged, check_pushed, forget_layers, make_base, timed_steps, upload_json,
    uploaded, Buildah,
};
use super::registry::{CountingProxy, Registry};
use super::Options;
use crate::cmd::{self, status};

const PUSH_RATIO: f64 = 0.5;
/// Debian's client, the one `docker.io` installs (a newer one elsewhere on PATH may lack the
/// classic builder).
pub(super) const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "dockerd";
pub(super) const ARCHES: &[(&str, &str)] =
    &[("amd64", app::HOST_TARGET), ("arm64", app::ARM64_TARGET)];

/// A dockerd of the benchmark's own; stopped on drop.
pub struct Dockerd {
    child: Child,
    run_dir: PathBuf,
    client: PathBuf,
}

impl Dockerd {
    /// Starts a daemon whose data root is `<dir>/data` (kept between runs).
    pub fn start(dir: &Path) -> Result<Dockerd> {
        if cmd::find_in_path(DOCKERD).is_none() || !Path::new(DOCKER).is_file() {
            bail!("docker.io is missing: run `cargo xtask setup --only debian`");
        }
        let run_dir =
            std::env::temp_dir().join(format!("forge-bench-docker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("could not create {}", run_dir.display()))?;
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("could not create {}", dir.join("data").display()))?;
        let log = std::fs::File::create(dir.join("dockerd.log"))
            .with_context(|| format!("could not create {}", dir.join("dockerd.log").display()))?;
        let id = std::process::id();
        let child = Command::new(DOCKERD)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(run_dir.join("exec"))
            .arg("--pidfile")
            .arg(run_dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", run_dir.join("docker.sock").display()))
            .args([
                "--storage-driver",
                "vfs",
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--shutdown-timeout",
                "3",
            ])
            .arg("--containerd-namespace")
            .arg(format!("forge-bench-{id}"))
            .arg("--containerd-plugins-namespace")
            .arg(format!("forge-bench-{id}-plugins"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("could not start {DOCKERD}"))?;
        let mut d = Dockerd {
            child,
            client: run_dir.join("client"),
            run_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = d.child.try_wait()? {
                bail!(
                    "dockerd exited with {status}; see {}",
                    dir.join("dockerd.log").display()
                );
            }
            if cmd::probe(d.cmd().args(["version", "--format", "{{.Server.Version}}"]))
                .is_some_and(|o| o.status.success())
            {
                return Ok(d);
            }
            if Instant::now() > deadline {
                bail!(
                    "dockerd did not answer within 60 s; see {}",
                    dir.join("dockerd.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker` talking to this daemon, with a client config of its own, the classic builder.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.env(
            "DOCKER_HOST",
            format!("unix://{}", self.run_dir.join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", &self.client)
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_CONTEXT");
        c
    }

    pub(super) fn quiet(&self, args: &[&str]) {
        let _ = cmd::probe(self.cmd().args(args));
    }

    pub(super) fn version(&self) -> Option<String> {
        super::common::first_line(
            self.cmd()
                .args(["version", "--format", "{{.Server.Version}}"]),
        )
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// What both docker benchmarks set up: the work dir, the daemon, buildah (for the base), the
/// base as an OCI layout, the registry behind a counting proxy.
pub(super) struct Stage {
    pub(super) work: PathBuf,
    pub(super) base_oci: PathBuf,
    pub(super) registry: Registry,
    pub(super) proxy: CountingProxy,
}

impl Stage {
    pub(super) fn new(bench_dir: &Path, name: &str) -> Result<(Stage, Dockerd)> {
        let work = bench_dir.join(name);
        app::remove(&work)?;
        std::fs::create_dir_all(&work)
            .with_context(|| format!("could not create {}", work.display()))?;
        let docker = Dockerd::start(&bench_dir.join("docker"))?;
        let buildah = Buildah {
            root: work.join("buildah/root"),
            runroot: work.join("buildah/run"),
        };
        let base_oci = make_base(&buildah, &work)?;
        let registry = Registry::start(&work.join("registry"))?;
        let proxy = CountingProxy::start(registry.host())?;
        Ok((
            Stage {
                work,
                base_oci,
                registry,
                proxy,
            },
            docker,
        ))
    }

    pub(super) fn base_ref(&self) -> String {
        format!("{}/bench/base:1", self.proxy.host())
    }

    /// Empties the registry and puts the base back (so every push uploads all but the base).
    pub(super) fn seed(&mut self) -> Result<()> {
        self.registry.restart()?;
        cmd::output(
            Command::new("skopeo")
                .args(["copy", "--all", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("oci:{}", self.base_oci.display()))
                .arg(format!("docker://{}", self.base_ref())),
        )?;
        self.proxy.take();
        Ok(())
    }

    /// A copy of the app whose image table names the base.
    pub(super) fn app_copy(&self, app: &App, name: &str) -> Result<PathBuf> {
        let krate = self.work.join(name);
        app::fresh_copy(app, &krate)?;
        let manifest = krate.join("Cargo.toml");
        let mut text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("could not read {}", manifest.display()))?;
        text.push_str(&format!(
            "\n[package.metadata.forge.image]\nbase = \"{}\"\n",
            self.base_ref()
        ));
        std::fs::write(&manifest, text)
            .with_context(|| format!("could not write {}", manifest.display()))?;
        Ok(krate)
    }
}

/// The architecture of the image `reference` pushed for `arch`, checked.
pub(super) fn check_arch(reference: &str, arch: &str) -> Result<()> {
    let out = cmd::output(
        Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--override-arch", arch])
            .arg(format!("docker://{reference}")),
    )?;
    let v: Value = serde_json::from_slice(&out.stdout).context("skopeo printed no JSON")?;
    if v["Architecture"] != arch {
        bail!("{reference} is not an {arch} image: {v}");
    }
    Ok(())
}

pub(super) fn what(round_no: usize, runs: usize) -> String {
    if round_no == 0 {
        "warm-up".to_owned()
    } else {
        format!("run {round_no}/{runs}")
    }
}

/// `docker-push`.
pub fn run_push(
    forge_deb: &Path,
    forge_image: &Path,
    app: &App,
    bench_dir: &Path,
    opts: &Options,
) -> Result<BenchResult> {
    let (mut stage, docker) = Stage::new(bench_dir, "docker-push")?;
    let krate = stage.app_copy(app, "forge-bench-app")?;
    let mut build =
        app::engine_build_command(forge_deb, &krate, &[app::HOST_TARGET, app::ARM64_TARGET])?;
    status(
        "Building",
        format!("the image's binaries: {}", cmd::display(&build)),
    );
    cmd::output(&mut build)?;
    let host = stage.proxy.host();
    let image_ref = format!("{host}/bench/{}:{}", app::NAME, app::VERSION);
    let blob_cache = stage.work.join("forge-blob-cache");
    let ours_cmd = || super::image::push_cmd(forge_image, &krate, &image_ref, &blob_cache);

    // The seeds' way: a Dockerfile per platform over a context holding both binaries.
    let context =
        super::image::write_context(&stage.work, &stage.base_ref(), &krate, "Dockerfile")?;
    let arch_ref = |arch: &str| arch_ref(&image_ref, arch);
    let peer_steps = || push_steps(&docker, &context, &image_ref);
    let peer_clean = |docker: &Dockerd| {
        for (arch, _) in ARCHES {
            docker.quiet(&["rmi", "--force", &arch_ref(arch)]);
        }
        docker.quiet(&["manifest", "rm", &image_ref]);
    };
    let ours_shown = cmd::display(&ours_cmd());
    let peer_shown: Vec<String> = peer_steps().iter().map(cmd::display).collect();
    status("Running", format!("docker-push: {ours_shown}"));
    status(
        "Running",
        format!("docker-push: {}", peer_shown.join(" && ")),
    );

    let mut ours = Series::default();
    let mut peer = Series::default();
    let mut uploads = Vec::new();
    let (mut ours_bytes, mut peer_bytes) = (Vec::new(), Vec::new());
    for round_no in 0..=opts.runs {
        forget_layers(&blob_cache)?;
        stage.seed()?;
        let before = stage.registry.requests().len();
        let waited = idle(opts, round_no);
        let o = super::common::timed(&mut ours_cmd())?;
        let o_up = stage.proxy.take();
        let o_log = blob_uploads_logged(&stage.registry, before);
        if round_no == 0 {
            check_pushed(&image_ref)?;
        }

        peer_clean(&docker);
        stage.seed()?;
        let before = stage.registry.requests().len();
        let waited_p = idle(opts, round_no);
        let p = timed_steps(&mut peer_steps())?;
        let p_up = stage.proxy.take();
        let p_log = blob_uploads_logged(&stage.registry, before);
        if round_no == 0 {
            check_pushed(&image_ref)?;
        }
        status(
            "Measured",
            format!(
                "docker-push {}: ours {} ({}), docker {} ({})",
                what(round_no, opts.runs),
                super::common::describe_sample(&o),
                uploaded(&o_up),
                super::common::describe_sample(&p),
                uploaded(&p_up),
            ),
        );
        ours.record(round_no, &o, waited);
        peer.record(round_no, &p, waited_p);
        if round_no > 0 {
            ours_bytes.push(o_up.blob_bytes);
            peer_bytes.push(p_up.blob_bytes);
        }
        uploads.push(json!({
            "round": round_no,
            "ours": upload_json(&o_up, o_log),
            "peer": upload_json(&p_up, p_log),
        }));
    }
    peer_clean(&docker);
    let docker_version = docker.version();

    let (mo, mp) = (ours.median(), peer.median());
    let ratio = mo / mp;
    let met = ratio <= PUSH_RATIO;
    let target = format!("time <= {PUSH_RATIO}x");
    let median_u64 =
        |v: &[u64]| super::common::median(&v.iter().map(|b| *b as f64).collect::<Vec<_>>());
    let contention = ours.background_cores().max(peer.background_cores());
    Ok(BenchResult {
        rows: vec![
            Row {
                label: "docker-push".into(),
                ours: secs(mo),
                peer: secs(mp),
                ratio: format!("{ratio:.2}x"),
                target: target.clone(),
                met: Some(met),
            },
            Row {
                label: "  blob bytes uploaded".into(),
                ours: super::common::megabytes(median_u64(&ours_bytes) as u64),
                peer: super::common::megabytes(median_u64(&peer_bytes) as u64),
                ratio: format!("{:.3}x", median_u64(&ours_bytes) / median_u64(&peer_bytes)),
                target: String::new(),
                met: None,
            },
        ],
        json: json!({
            "name": "docker-push",
            "app": app.json,
            "docker": docker_version,
            "base": stage.base_oci,
            "ours": { "command": ours_shown, "times": ours.json(), "blob_bytes": ours_bytes },
            "peer": { "commands": peer_shown, "times": peer.json(), "blob_bytes": peer_bytes },
            "uploads": uploads,
            "time_ratio": round(ratio, 4),
            "target": target,
            "met": met,
        }),
        contention,
        levels: Vec::new(),
    })
}

/// `IMAGE-ARCH`: the per-platform tag of the seeds' way.
fn arch_ref(image_ref: &str, arch: &str) -> String {
    format!("{image_ref}-{arch}")
}

/// The seeds' way: `docker build` and `docker push` per platform, then `docker manifest create`
/// and `docker manifest push`.
fn push_steps(docker: &Dockerd, context: &Path, image_ref: &str) -> Vec<Command> {
    let mut steps = Vec::new();
    for (arch, _) in ARCHES {
        let mut b = docker.cmd();
        b.args(["build", "--quiet", "--no-cache", "--network", "none"])
            .arg(format!("--platform=linux/{arch}"))
            .arg(format!("--build-arg=ARCH={arch}"))
            .args(["-t", &arch_ref(image_ref, arch)])
            .arg(context);
        steps.push(b);
    }
    for (arch, _) in ARCHES {
        let mut p = docker.cmd();
        p.args(["push", "--quiet", &arch_ref(image_ref, arch)]);
        steps.push(p);
    }
    let mut create = docker.cmd();
    create.args(["manifest", "create", "--insecure", image_ref]);
    for (arch, _) in ARCHES {
        create.arg(arch_ref(image_ref, arch));
    }
    steps.push(create);
    let mut push = docker.cmd();
    push.args(["manifest", "push", "--insecure", "--purge", image_ref]);
    steps.push(push);
    steps
}

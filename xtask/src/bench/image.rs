//! `image-push`: a two-platform image (linux/amd64 + linux/arm64) of `tests/fixtures/bench-app`'s
//! already-built binaries on the same base image, built and pushed to a loopback registry by
//! `cargo forge-image --no-build … --push` vs `buildah bud` per platform (a Containerfile that
//! COPYs the binary onto the base) + `buildah manifest create/add` + `buildah manifest push --all`.
//! Then the re-push of the unchanged image: its time and the bytes it uploads.
//!
//! Setup, not measured: both binaries are built once with the build engine's cargo command; the
//! base is a small "distroless cc"-like image (passwd, group, /tmp, glibc, libm, libgcc_s and the
//! dynamic loader of each architecture, copied from this machine) that buildah builds once into an
//! OCI layout; the registry is emptied and restarted before every measured push and the base
//! copied into it with `skopeo copy --all`, so both tools upload everything but the base, which
//! both find there. Both reach the registry through a [`CountingProxy`] that counts the bytes of
//! blob uploads. buildah keeps its own storage (vfs driver, chroot isolation: no container engine
//! needed) under `target/bench/image/`; the base stays pulled there between runs, as
//! cargo-forge's blob cache keeps it between its runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::app::{self, App};
use super::common::{idle, round, secs, BenchResult, Row, Sample, Series};
use super::registry::{is_blob_upload, CountingProxy, Registry, Uploaded};
use super::Options;
use crate::cmd::{self, status, warn};

const PUSH_RATIO: f64 = 0.5;
const REPUSH_SECS: f64 = 0.3;
const ARCHES: &[(&str, &str)] = &[("amd64", app::HOST_TARGET), ("arm64", app::ARM64_TARGET)];

/// Runtime files of the base per architecture: (source on this machine, path in the image).
fn base_files(arch: &str) -> Vec<(&'static str, &'static str)> {
    match arch {
        "amd64" => vec![
            (
                "/lib/x86_64-linux-gnu/libc.so.6",
                "lib/x86_64-linux-gnu/libc.so.6",
            ),
            (
                "/lib/x86_64-linux-gnu/libm.so.6",
                "lib/x86_64-linux-gnu/libm.so.6",
            ),
            (
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "lib/x86_64-linux-gnu/libgcc_s.so.1",
            ),
            ("/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"),
        ],
        _ => vec![
            (
                "/usr/lib/aarch64-linux-gnu/libc.so.6",
                "lib/aarch64-linux-gnu/libc.so.6",
            ),
            (
                "/usr/lib/aarch64-linux-gnu/libm.so.6",
                "lib/aarch64-linux-gnu/libm.so.6",
            ),
            (
                "/usr/lib/aarch64-linux-gnu/libgcc_s.so.1",
                "lib/aarch64-linux-gnu/libgcc_s.so.1",
            ),
            (
                "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
                "lib/ld-linux-aarch64.so.1",
            ),
        ],
    }
}

/// buildah with the benchmark's own storage.
pub(super) struct Buildah {
    pub(super) root: PathBuf,
    pub(super) runroot: PathBuf,
}

impl Buildah {
    pub(super) fn cmd(&self) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"]);
        c
    }

    /// Runs a buildah command whose failure does not matter (clean-up).
    pub(super) fn quiet(&self, args: &[&str]) {
        let _ = cmd::probe(self.cmd().args(args));
    }
}

pub fn run(
    forge_deb: &Path,
    forge_image: &Path,
    app: &App,
    bench_dir: &Path,
    opts: &Options,
) -> Result<BenchResult> {
    if crate::cmd::find_in_path("buildah").is_none() {
        bail!("buildah is missing: run `cargo xtask setup --only debian`");
    }
    let work = bench_dir.join("image");
    app::remove(&work)?;
    std::fs::create_dir_all(&work)
        .with_context(|| format!("could not create {}", work.display()))?;
    let buildah = Buildah {
        root: work.join("buildah/root"),
        runroot: work.join("buildah/run"),
    };

    // The binaries, built once (not measured).
    let krate = build_binaries(forge_deb, app, &work)?;

    // The base, as an OCI layout, built once by buildah (not measured).
    let base_oci = make_base(&buildah, &work)?;

    let mut registry = Registry::start(&work.join("registry"))?;
    let proxy = CountingProxy::start(registry.host())?;
    let host = proxy.host();
    let base_ref = format!("{host}/bench/base:1");
    let image_ref = format!("{host}/bench/{}:{}", app::NAME, app::VERSION);
    let seed = |registry: &mut Registry| -> Result<()> {
        registry.restart()?;
        cmd::output(
            Command::new("skopeo")
                .args(["copy", "--all", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("oci:{}", base_oci.display()))
                .arg(format!("docker://{base_ref}")),
        )?;
        proxy.take();
        Ok(())
    };

    // Ours: the crate's image table names the base; the blob cache is ours to keep warm.
    name_base(&krate, &base_ref)?;
    let blob_cache = work.join("forge-blob-cache");
    let ours_cmd = || push_cmd(forge_image, &krate, &image_ref, &blob_cache);

    // The peer: a build context with both binaries and a Containerfile.
    let context = write_context(&work, &base_ref, &krate, "Containerfile")?;
    let peer = BuildahPeer {
        buildah: &buildah,
        context: &context,
        image_ref: &image_ref,
    };
    let peer_push = || peer.push();
    let peer_steps = || peer.steps();
    let peer_clean = || peer.clean();
    let ours_shown = cmd::display(&ours_cmd());
    let peer_shown: Vec<String> = peer_steps().iter().map(cmd::display).collect();
    status("Running", format!("image-push: {ours_shown}"));
    status(
        "Running",
        format!("image-push: {}", peer_shown.join(" && ")),
    );

    let mut m = Measured {
        repush_exact: true,
        ..Measured::default()
    };
    for round_no in 0..=opts.runs {
        // Ours, into an empty registry (but the base), with new binaries as far as cargo-forge
        // knows: its layer cache is emptied (the base stays cached, as buildah keeps it pulled).
        forget_layers(&blob_cache)?;
        seed(&mut registry)?;
        let before = registry.requests().len();
        let waited = idle(opts, round_no);
        let o = super::common::timed(&mut ours_cmd())?;
        let o_up = proxy.take();
        let o_log = blob_uploads_logged(&registry, before);
        if round_no == 0 {
            check_pushed(&image_ref)?;
        }
        // The re-push, unchanged.
        let before = registry.requests().len();
        let waited_re = idle(opts, round_no);
        let r = super::common::timed(&mut ours_cmd())?;
        let r_up = proxy.take();
        let r_log = blob_uploads_logged(&registry, before);

        // The peer, into an empty registry (but the base).
        peer_clean();
        seed(&mut registry)?;
        let before = registry.requests().len();
        let waited_p = idle(opts, round_no);
        let p = timed_steps(&mut peer_steps())?;
        let p_up = proxy.take();
        let p_log = blob_uploads_logged(&registry, before);
        if round_no == 0 {
            check_pushed(&image_ref)?;
        }
        let before = registry.requests().len();
        let waited_pre = idle(opts, round_no);
        let pr = super::common::timed(&mut peer_push())?;
        let pr_up = proxy.take();
        let pr_log = blob_uploads_logged(&registry, before);

        let what = if round_no == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round_no}/{}", opts.runs)
        };
        report_round(
            &what,
            [(&o, &o_up), (&p, &p_up), (&r, &r_up), (&pr, &pr_up)],
        );
        m.ours.record(round_no, &o, waited);
        m.peer.record(round_no, &p, waited_p);
        m.ours_repush.record(round_no, &r, waited_re);
        m.peer_repush.record(round_no, &pr, waited_pre);
        if round_no > 0 {
            m.ours_bytes.push(o_up.blob_bytes);
            m.peer_bytes.push(p_up.blob_bytes);
            m.ours_re_bytes.push(r_up.blob_bytes);
            m.peer_re_bytes.push(pr_up.blob_bytes);
            m.repush_exact &= r_up.exact;
        }
        m.uploads.push(json!({
            "round": round_no,
            "ours": upload_json(&o_up, o_log),
            "m.ours_repush": upload_json(&r_up, r_log),
            "peer": upload_json(&p_up, p_log),
            "m.peer_repush": upload_json(&pr_up, pr_log),
        }));
    }
    peer_clean();
    drop(proxy);
    drop(registry);

    Ok(result(
        m,
        app,
        &base_oci,
        ours_shown,
        peer_shown,
        cmd::display(&peer_push()),
    ))
}

/// What the rounds of `image-push` measured.
#[derive(Default)]
struct Measured {
    ours: Series,
    peer: Series,
    ours_repush: Series,
    peer_repush: Series,
    uploads: Vec<Value>,
    ours_bytes: Vec<u64>,
    peer_bytes: Vec<u64>,
    ours_re_bytes: Vec<u64>,
    peer_re_bytes: Vec<u64>,
    /// Whether the counting proxy framed every re-push request (else its count is a lower bound).
    repush_exact: bool,
}

/// The rows and JSON of `image-push` against its targets.
fn result(
    m: Measured,
    app: &App,
    base_oci: &Path,
    ours_shown: String,
    peer_shown: Vec<String>,
    peer_push_shown: String,
) -> BenchResult {
    let Measured {
        ours,
        peer,
        ours_repush,
        peer_repush,
        uploads,
        ours_bytes,
        peer_bytes,
        ours_re_bytes,
        peer_re_bytes,
        repush_exact,
    } = m;
    let (mo, mp) = (ours.median(), peer.median());
    let ratio = mo / mp;
    let push_met = ratio <= PUSH_RATIO;
    let push_target = format!("time <= {PUSH_RATIO}x");
    let (mr, mpr) = (ours_repush.median(), peer_repush.median());
    let max_re_bytes = ours_re_bytes.iter().copied().max().unwrap_or(0);
    let repush_met = mr <= REPUSH_SECS && max_re_bytes == 0 && repush_exact;
    let repush_target = format!("<= {REPUSH_SECS} s and 0 bytes uploaded");
    let median_u64 =
        |v: &[u64]| super::common::median(&v.iter().map(|b| *b as f64).collect::<Vec<_>>());
    if !repush_exact {
        warn("the counting proxy could not frame some re-push request: its byte count is a lower bound");
    }
    let contention = [&ours, &peer, &ours_repush, &peer_repush]
        .iter()
        .map(|s| s.background_cores())
        .fold(0.0, f64::max);
    BenchResult {
        rows: vec![
            Row {
                label: "image-push".into(),
                ours: secs(mo),
                peer: secs(mp),
                ratio: format!("{ratio:.2}x"),
                target: push_target.clone(),
                met: Some(push_met),
            },
            Row {
                label: "  blob bytes uploaded".into(),
                ours: super::common::megabytes(median_u64(&ours_bytes) as u64),
                peer: super::common::megabytes(median_u64(&peer_bytes) as u64),
                ratio: format!("{:.3}x", median_u64(&ours_bytes) / median_u64(&peer_bytes)),
                target: String::new(),
                met: None,
            },
            Row {
                label: "image re-push (peer: manifest push)".into(),
                ours: secs(mr),
                peer: secs(mpr),
                ratio: format!("{:.2}x", mr / mpr),
                target: format!("{repush_target} (ours: {max_re_bytes} B)"),
                met: Some(repush_met),
            },
        ],
        json: json!({
            "name": "image-push",
            "app": app.json,
            "base": base_oci,
            "ours": { "command": ours_shown, "times": ours.json(), "blob_bytes": ours_bytes },
            "peer": { "commands": peer_shown, "times": peer.json(), "blob_bytes": peer_bytes },
            "ours_repush": { "command": ours_shown, "times": ours_repush.json(), "blob_bytes": ours_re_bytes },
            "peer_repush": { "command": peer_push_shown, "times": peer_repush.json(), "blob_bytes": peer_re_bytes },
            "uploads": uploads,
            "time_ratio": round(ratio, 4),
            "target": push_target,
            "met": push_met,
            "repush_target": repush_target,
            "repush_met": repush_met,
        }),
        contention,
        levels: Vec::new(),
    }
}

/// `cargo forge-image --no-build` of both platforms, pushing `image_ref`, with its own blob
/// cache (also the `docker-push` benchmark's).
pub(super) fn push_cmd(
    forge_image: &Path,
    krate: &Path,
    image_ref: &str,
    blob_cache: &Path,
) -> Command {
    let mut c = Command::new(forge_image);
    c.arg("forge-image")
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"))
        .args(["--toolchain", app::TOOLCHAIN, "--no-build"]);
    for (_, t) in ARCHES {
        c.args(["--target", t]);
    }
    c.args(["--tag", image_ref, "--push"]);
    super::common::neutral_env(&mut c, krate);
    c.env("FORGE_BLOB_CACHE", blob_cache);
    c
}

/// A copy of the app under `work` with both platforms' binaries built by the build engine's
/// cargo command.
fn build_binaries(forge_deb: &Path, app: &App, work: &Path) -> Result<PathBuf> {
    let krate = work.join("forge-bench-app");
    app::fresh_copy(app, &krate)?;
    let mut build =
        app::engine_build_command(forge_deb, &krate, &[app::HOST_TARGET, app::ARM64_TARGET])?;
    status(
        "Building",
        format!("the image's binaries: {}", cmd::display(&build)),
    );
    cmd::output(&mut build)?;
    Ok(krate)
}

/// Names the base in the crate's image table (`[package.metadata.forge.image]`).
fn name_base(krate: &Path, base_ref: &str) -> Result<()> {
    let manifest = krate.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("could not read {}", manifest.display()))?;
    text.push_str(&format!(
        "\n[package.metadata.forge.image]\nbase = \"{base_ref}\"\n"
    ));
    std::fs::write(&manifest, text)
        .with_context(|| format!("could not write {}", manifest.display()))?;
    Ok(())
}

/// The status line of one round: ours, buildah, then the re-pushes, each with its uploads.
fn report_round(what: &str, [o, p, r, pr]: [(&Sample, &Uploaded); 4]) {
    status(
        "Measured",
        format!(
            "image-push {what}: ours {} ({}), buildah {} ({}); re-push: ours {} ({}), buildah {} ({})",
            super::common::describe_sample(o.0),
            uploaded(o.1),
            super::common::describe_sample(p.0),
            uploaded(p.1),
            super::common::describe_sample(r.0),
            uploaded(r.1),
            super::common::describe_sample(pr.0),
            uploaded(pr.1),
        ),
    );
}

/// A peer's build context under `work`: both binaries and `file` (`Containerfile` for buildah,
/// `Dockerfile` for docker) over the base. The same context for every peer, so that they build
/// the same image.
pub(super) fn write_context(
    work: &Path,
    base_ref: &str,
    krate: &Path,
    file: &str,
) -> Result<PathBuf> {
    let context = work.join("context");
    for (arch, target) in ARCHES {
        let dir = context.join("bin").join(arch);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let binary = krate
            .join("target")
            .join(target)
            .join("release")
            .join(app::NAME);
        std::fs::copy(binary, dir.join(app::NAME))
            .with_context(|| format!("could not copy the {arch} binary into {}", dir.display()))?;
    }
    std::fs::write(
        context.join(file),
        format!(
            "FROM {base_ref}\nARG ARCH\nCOPY bin/${{ARCH}}/{n} /usr/local/bin/{n}\nUSER 65532\nENTRYPOINT [\"/usr/local/bin/{n}\"]\n",
            n = app::NAME
        ),
    )
    .with_context(|| format!("could not write the {file}"))?;
    Ok(context)
}

/// The peer's commands: `buildah bud` per platform, a manifest list, `buildah manifest push`.
struct BuildahPeer<'a> {
    buildah: &'a Buildah,
    context: &'a Path,
    image_ref: &'a str,
}

impl BuildahPeer<'_> {
    const LIST: &'static str = "bench-app-list";

    fn bud(&self, arch: &str) -> Command {
        let (buildah, context) = (self.buildah, self.context);
        let mut c = buildah.cmd();
        c.args([
            "bud",
            "--isolation",
            "chroot",
            "--tls-verify=false",
            "--quiet",
        ])
        .arg(format!("--platform=linux/{arch}"))
        .arg(format!("--build-arg=ARCH={arch}"))
        .args(["-t", &format!("bench-app:{arch}"), "-f"])
        .arg(context.join("Containerfile"))
        .arg(context);
        c
    }

    fn push(&self) -> Command {
        let (buildah, list, image_ref) = (self.buildah, Self::LIST, self.image_ref);
        let mut push = buildah.cmd();
        push.args([
            "manifest",
            "push",
            "--all",
            "--tls-verify=false",
            "--quiet",
            list,
        ])
        .arg(format!("docker://{image_ref}"));
        push
    }

    fn steps(&self) -> Vec<Command> {
        let (buildah, list) = (self.buildah, Self::LIST);
        let mut steps: Vec<Command> = ARCHES.iter().map(|(a, _)| self.bud(a)).collect();
        let mut create = buildah.cmd();
        create.args(["manifest", "create", list]);
        steps.push(create);
        for (arch, _) in ARCHES {
            let mut add = buildah.cmd();
            add.args([
                "manifest",
                "add",
                list,
                &format!("localhost/bench-app:{arch}"),
            ]);
            steps.push(add);
        }
        steps.push(self.push());
        steps
    }

    fn clean(&self) {
        let (buildah, list) = (self.buildah, Self::LIST);
        buildah.quiet(&["manifest", "rm", list]);
        buildah.quiet(&[
            "rmi",
            "localhost/bench-app:amd64",
            "localhost/bench-app:arm64",
        ]);
        buildah.quiet(&["rm", "--all"]);
    }
}

/// Builds the base image once into `<work>/base-oci` (both platforms, an OCI index).
pub(super) fn make_base(buildah: &Buildah, work: &Path) -> Result<PathBuf> {
    let ctx = work.join("base-context");
    for (arch, _) in ARCHES {
        let rootfs = ctx.join(format!("rootfs-{arch}"));
        for dir in ["etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(dir))
                .with_context(|| format!("could not create {}", rootfs.join(dir).display()))?;
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        )?;
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnonroot:x:65532:\n")?;
        for (src, dest) in base_files(arch) {
            let to = rootfs.join(dest);
            std::fs::create_dir_all(to.parent().expect("has a parent"))?;
            // Follows symlinks: the image gets the files themselves.
            std::fs::copy(src, &to).with_context(|| {
                format!(
                    "could not copy {src} into the base (run `cargo xtask setup --only debian` for libc6:arm64)"
                )
            })?;
        }
    }
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM scratch\nARG ARCH\nCOPY rootfs-${ARCH}/ /\n",
    )
    .context("could not write the base's Containerfile")?;
    let list = "bench-base-list";
    buildah.quiet(&["manifest", "rm", list]);
    for (arch, _) in ARCHES {
        cmd::output(
            buildah
                .cmd()
                .args(["bud", "--isolation", "chroot", "--quiet"])
                .arg(format!("--platform=linux/{arch}"))
                .arg(format!("--build-arg=ARCH={arch}"))
                .args(["-t", &format!("bench-base:{arch}"), "-f"])
                .arg(ctx.join("Containerfile"))
                .arg(&ctx),
        )?;
    }
    cmd::output(buildah.cmd().args(["manifest", "create", list]))?;
    for (arch, _) in ARCHES {
        cmd::output(buildah.cmd().args([
            "manifest",
            "add",
            list,
            &format!("localhost/bench-base:{arch}"),
        ]))?;
    }
    let oci = work.join("base-oci");
    cmd::output(
        buildah
            .cmd()
            .args(["manifest", "push", "--all", "--quiet", list])
            .arg(format!("oci:{}", oci.display())),
    )?;
    buildah.quiet(&["manifest", "rm", list]);
    buildah.quiet(&[
        "rmi",
        "localhost/bench-base:amd64",
        "localhost/bench-base:arm64",
    ]);
    status(
        "Prepared",
        format!("the base image (both platforms) in {}", oci.display()),
    );
    Ok(oci)
}

/// Removes cargo-forge-image's cache of compressed layers (`layers-*` in its blob cache) and the
/// blobs it points to, so that the next push compresses its layers as it would new binaries.
pub(super) fn forget_layers(blob_cache: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(blob_cache) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("layers-") {
            continue;
        }
        for pointer in std::fs::read_dir(entry.path())?.flatten() {
            if let Ok(digest) = std::fs::read_to_string(pointer.path()) {
                let _ = std::fs::remove_file(blob_cache.join("sha256").join(digest.trim()));
            }
        }
        std::fs::remove_dir_all(entry.path())
            .with_context(|| format!("could not remove {}", entry.path().display()))?;
    }
    Ok(())
}

/// Runs the steps one after the other as one timed sample.
pub(super) fn timed_steps(steps: &mut [Command]) -> Result<Sample> {
    let mut total: Option<Sample> = None;
    for step in steps {
        let s = super::common::timed(step)?;
        total = Some(match total {
            None => s,
            Some(mut t) => {
                t.secs += s.secs;
                t.cpu_s += s.cpu_s;
                t.foreign_cpu_s += s.foreign_cpu_s;
                t
            }
        });
    }
    total.context("no steps")
}

/// Blob upload requests in the registry's access log after position `before`.
pub(super) fn blob_uploads_logged(registry: &Registry, before: usize) -> usize {
    // The registry logs a request when its handler finishes, just before the answer: give the
    // last line a moment.
    std::thread::sleep(std::time::Duration::from_millis(50));
    registry
        .requests()
        .iter()
        .skip(before)
        .filter(|(m, p)| is_blob_upload(m, p))
        .count()
}

pub(super) fn uploaded(u: &Uploaded) -> String {
    format!(
        "{} in {} blob uploads",
        super::common::megabytes(u.blob_bytes),
        u.blob_requests
    )
}

pub(super) fn upload_json(u: &Uploaded, logged_blob_requests: usize) -> Value {
    json!({
        "blob_bytes": u.blob_bytes,
        "blob_requests_with_body": u.blob_requests,
        "blob_upload_requests_logged": logged_blob_requests,
        "request_bytes": u.request_bytes,
        "requests": u.requests,
        "exact": u.exact,
    })
}

/// The pushed reference is an index of the two platforms.
pub(super) fn check_pushed(reference: &str) -> Result<()> {
    let out = cmd::output(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}")),
    )?;
    let index: Value = serde_json::from_slice(&out.stdout).context("skopeo printed no JSON")?;
    let mut archs: Vec<String> = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["platform"]["architecture"].as_str().map(str::to_owned))
        .collect();
    archs.sort();
    if archs != ["amd64", "arm64"] {
        bail!("{reference} is not an amd64 + arm64 index: {index}");
    }
    Ok(())
}

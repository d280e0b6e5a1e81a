//! `memory`: the peak resident memory of every command when a crate ships a large asset — by
//! default 64 MiB, 512 MiB and 2 GiB of incompressible bytes (`/dev/urandom`: the worst case for
//! every compressor and every upload) — printed side by side per size. The goal (issue 13) is
//! under 256 MiB at every size: memory must not grow with the payload.
//!
//! The crate is generated under `target/bench/memory/app` (a tiny program, its asset
//! `payload.bin` in the .deb, in the image and in the release archives; a git repository with a
//! bare `origin` for the release) and built once; every measured command then runs with
//! `--no-build`, so the figure is the command's own, not cargo's. Measured, one run each (peak
//! memory does not vary like time does), by GNU time (`/usr/bin/time -f %M`, the largest
//! resident set of the process and the children it waited for):
//!
//! * `cargo forge-deb` — the package (xz, the default);
//! * `cargo forge-image --output oci:DIR` — the image built into an OCI layout;
//! * `cargo forge-image --tag … --push` — built again from an empty blob cache, and pushed to a
//!   loopback `docker-registry`;
//! * `cargo forge-release 0.1.0 --yes` — archive, .deb and image, published to a directory, to
//!   the registry, and to S3 (SeaweedFS on loopback; with a zip archive, so both archive writers
//!   are measured): one release per host, each from a fresh repository and `origin`, so that
//!   the copies the hosts keep are on disk one host at a time.
//!
//! Between commands their outputs are deleted, the registry is emptied and S3 starts afresh for
//! each size, so a 2 GiB run needs about [`DISK_FACTOR`] × 2 GiB of free disk at its peak; a
//! size that does not fit is skipped with a note rather than filling a shared disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::app::{self, HOST_TARGET};
use super::common::{BenchResult, Row};
use super::registry::Registry;
use super::s3::{self, Seaweed};
use super::Options;
use crate::cmd::{self, note, status, warn};

/// The sizes measured when `--sizes` is not given.
pub const DEFAULT_SIZES: &[u64] = &[64 << 20, 512 << 20, 2 << 30];
/// The issue's goal: peak resident memory below this at every size.
const GOAL: u64 = 256 << 20;
/// Free disk one size needs, as a multiple of the size: at the peak (the release to S3) the
/// payload, the staged archive, package, layout and layer blob, and the archive and package in
/// S3; one more for what the file system needs around them.
pub const DISK_FACTOR: u64 = 8;
const NAME: &str = "forge-memory-app";
const VERSION: &str = "0.1.0";
const TIME: &str = "/usr/bin/time";

/// The binaries under test.
pub struct Bins<'a> {
    pub deb: &'a Path,
    pub image: &'a Path,
    pub release: &'a Path,
}

/// The measured commands, in order.
const STEPS: &[&str] = &[
    "cargo forge-deb (package)",
    "cargo forge-image (build to oci layout)",
    "cargo forge-image (build and push)",
    "cargo forge-release (archive, deb, image) -> dir",
    "cargo forge-release (archive, deb, image) -> registry",
    "cargo forge-release (zip, deb, image) -> S3",
];

/// One measurement: peak resident memory in bytes and wall time.
#[derive(Clone, Copy)]
struct Peak {
    bytes: u64,
    secs: f64,
}

/// `64 MiB`, `2 GiB`.
pub fn size_label(n: u64) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 {
        format!("{} GiB", n >> 30)
    } else {
        format!("{} MiB", n >> 20)
    }
}

/// Parses `64M`, `512MiB`, `2G`, `2GiB` (binary units).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().ok()?;
    let shift = match t[split..].trim() {
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift).filter(|v| *v > 0)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
}

pub fn run(bins: &Bins, bench_dir: &Path, opts: &Options) -> Result<BenchResult> {
    if !Path::new(TIME).is_file() {
        bail!(
            "GNU time ({TIME}) is not installed: run `cargo xtask setup` (Debian package `time`)"
        );
    }
    let work = bench_dir.join("memory");
    app::remove(&work)?;
    std::fs::create_dir_all(&work)
        .with_context(|| format!("could not create {}", work.display()))?;
    let mut registry = Registry::start(&work.join("registry"))?;
    let krate = work.join("app");
    write_crate(&krate)?;
    status(
        "Building",
        format!("{NAME} once (every measured command runs with --no-build)"),
    );
    let mut build = Command::new("cargo");
    build
        .args([
            "build",
            "--release",
            "--target",
            HOST_TARGET,
            "--manifest-path",
        ])
        .arg(krate.join("Cargo.toml"));
    super::common::neutral_env(&mut build, &krate);
    cmd::output(&mut build)?;

    let sizes: Vec<u64> = if opts.memory_sizes.is_empty() {
        DEFAULT_SIZES.to_vec()
    } else {
        opts.memory_sizes.clone()
    };
    let mut peaks: Vec<Vec<Option<Peak>>> = vec![Vec::new(); STEPS.len()];
    let mut skipped = Vec::new();
    for &size in &sizes {
        let label = size_label(size);
        let free = free_disk(&work)?;
        if free < size * DISK_FACTOR {
            warn(format!(
                "memory: skipping {label}: {} free on the disk of {}, {} needed",
                mib(free),
                work.display(),
                mib(size * DISK_FACTOR)
            ));
            skipped.push(json!({ "size": size, "why": format!("{} free, {} needed", mib(free), mib(size * DISK_FACTOR)) }));
            for p in &mut peaks {
                p.push(None);
            }
            continue;
        }
        status(
            "Payload",
            format!(
                "{label} of /dev/urandom in {}",
                krate.join("payload.bin").display()
            ),
        );
        write_payload(&krate.join("payload.bin"), size)?;
        let s3 = Seaweed::start(&work.join("s3"))?;
        registry.restart()?;
        let measured = measure_size(bins, &work, &krate, &mut registry, &s3, size)?;
        drop(s3);
        for (i, m) in measured.into_iter().enumerate() {
            status(
                "Measured",
                format!(
                    "{label}: {} peak {} in {:.1} s",
                    STEPS[i],
                    mib(m.bytes),
                    m.secs
                ),
            );
            peaks[i].push(Some(m));
        }
        app::remove(&krate.join("payload.bin"))?;
    }
    drop(registry);
    app::remove(&work)?;

    print_side_by_side(&sizes, &peaks);
    let mut rows = Vec::new();
    let mut steps_json = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let measured: Vec<(u64, Peak)> = sizes
            .iter()
            .zip(&peaks[i])
            .filter_map(|(s, p)| p.map(|p| (*s, p)))
            .collect();
        let (Some(first), Some(last)) = (measured.first(), measured.last()) else {
            continue;
        };
        let worst = measured.iter().map(|(_, p)| p.bytes).max().unwrap_or(0);
        rows.push(Row {
            label: format!("memory: {step}"),
            ours: format!("{} @ {}", mib(last.1.bytes), size_label(last.0)),
            peer: format!("{} @ {}", mib(first.1.bytes), size_label(first.0)),
            ratio: format!("{:.2}x", last.1.bytes as f64 / first.1.bytes.max(1) as f64),
            target: format!("< {} at every size", mib(GOAL)),
            met: Some(worst < GOAL),
        });
        steps_json.push(json!({
            "command": step,
            "peak_rss_bytes": measured.iter().map(|(s, p)| json!({ "size": s, "peak_rss_bytes": p.bytes, "wall_s": super::common::round(p.secs, 2) })).collect::<Vec<_>>(),
            "met": worst < GOAL,
        }));
    }
    if !skipped.is_empty() {
        note("memory: some sizes were skipped for lack of disk (see above)");
    }
    Ok(BenchResult {
        rows,
        json: json!({
            "name": "memory",
            "goal_bytes": GOAL,
            "sizes": sizes,
            "payload": "incompressible (/dev/urandom)",
            "measured_by": "GNU time %M (max RSS of the process and its waited-for children), one run per size, --no-build",
            "steps": steps_json,
            "skipped": skipped,
        }),
        contention: 0.0,
        levels: Vec::new(),
    })
}

/// The four commands at one size.
fn measure_size(
    bins: &Bins,
    work: &Path,
    krate: &Path,
    registry: &mut Registry,
    s3: &Seaweed,
    size: u64,
) -> Result<Vec<Peak>> {
    let blobs = work.join("blobs");
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).context("could not create the log directory")?;
    let tag = size_label(size).replace(' ', "").to_lowercase();
    let mut out = Vec::new();

    // forge-deb.
    let mut c = Command::new(bins.deb);
    c.args(["forge-deb", "--no-build", "--target", HOST_TARGET]);
    let (peak, stdout) = measured(&mut c, krate, &blobs, &logs.join(format!("deb-{tag}")))?;
    let deb = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    if !deb.is_file() || std::fs::metadata(&deb).map(|m| m.len()).unwrap_or(0) < size / 2 {
        bail!("forge-deb produced no package of the payload's size: {stdout}");
    }
    out.push(peak);
    app::remove(&krate.join("target").join(HOST_TARGET).join("debian"))?;
    app::remove(&krate.join("target/debian"))?;

    // forge-image to an OCI layout.
    let layout = work.join("layout");
    let mut c = Command::new(bins.image);
    c.args([
        "forge-image",
        "--no-build",
        "--target",
        HOST_TARGET,
        "--output",
    ])
    .arg(format!("oci:{}", layout.display()));
    let (peak, _) = measured(&mut c, krate, &blobs, &logs.join(format!("image-{tag}")))?;
    if !layout.join("index.json").is_file() {
        bail!("forge-image wrote no OCI layout to {}", layout.display());
    }
    out.push(peak);
    app::remove(&layout)?;
    app::remove(&blobs)?;

    // forge-image build and push.
    let mut c = Command::new(bins.image);
    c.args([
        "forge-image",
        "--no-build",
        "--target",
        HOST_TARGET,
        "--push",
        "--tag",
    ])
    .arg(format!("{}/bench/memory:{tag}", registry.host()));
    let (peak, _) = measured(&mut c, krate, &blobs, &logs.join(format!("push-{tag}")))?;
    out.push(peak);
    app::remove(&blobs)?;
    registry.restart()?;

    // forge-release, once per host: a fresh repository and origin each time.
    let origin = work.join("origin.git");
    let hosts = [
        (
            "dir",
            "tar.gz",
            "{ kind = \"dir\", path = \"dist\" }".to_string(),
        ),
        (
            "registry",
            "tar.gz",
            format!(
                "{{ kind = \"oci\", repository = \"{}/bench/release\" }}",
                registry.host()
            ),
        ),
        (
            "s3",
            "zip",
            format!(
                "{{ kind = \"s3\", bucket = \"{}\", prefix = \"releases\", endpoint = \"{}\" }}",
                s3::BUCKET,
                s3.endpoint()
            ),
        ),
    ];
    for (name, format, host) in hosts {
        fresh_repo(krate, &origin, format, &host)?;
        let mut c = Command::new(bins.release);
        c.args(["forge-release", VERSION, "--yes", "--no-build"])
            .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY)
            .stdin(Stdio::null());
        git_identity(&mut c);
        let (peak, _) = measured(
            &mut c,
            krate,
            &blobs,
            &logs.join(format!("release-{name}-{tag}")),
        )?;
        if name == "dir" && !krate.join("dist").is_dir() {
            bail!(
                "forge-release published nothing to {}",
                krate.join("dist").display()
            );
        }
        out.push(peak);
        for d in ["dist", "target/forge", ".git"] {
            app::remove(&krate.join(d))?;
        }
        app::remove(&origin)?;
        app::remove(&blobs)?;
    }
    app::remove(&blobs)?;
    app::remove(&logs)?;
    Ok(out)
}

/// Runs `c` in the crate under GNU time; its peak memory and stdout. Output goes to files, so a
/// chatty command costs no memory here; a failure names the command and shows its stderr's tail.
fn measured(c: &mut Command, krate: &Path, blobs: &Path, log: &Path) -> Result<(Peak, String)> {
    super::common::neutral_env(c, krate);
    c.env("FORGE_BLOB_CACHE", blobs).env("NO_COLOR", "1");
    let shown = cmd::display(c);
    status("Running", &shown);
    let report = log.with_extension("time");
    let stdout_path = log.with_extension("out");
    let stderr_path = log.with_extension("err");
    let mut timed = Command::new(TIME);
    timed
        .args(["-f", "%M %e", "-o"])
        .arg(&report)
        .arg(c.get_program())
        .args(c.get_args())
        .current_dir(krate)
        .stdout(std::fs::File::create(&stdout_path).context("could not create a log file")?)
        .stderr(std::fs::File::create(&stderr_path).context("could not create a log file")?);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let status = timed
        .status()
        .with_context(|| format!("could not run `{shown}`"))?;
    let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    if !status.success() {
        bail!(
            "`{shown}` failed ({status}):\n{}",
            super::common::tail(&err, 30)
        );
    }
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("GNU time wrote no report to {}", report.display()))?;
    let last = text.lines().last().unwrap_or("");
    let mut fields = last.split_whitespace();
    let kib: u64 = fields
        .next()
        .and_then(|f| f.parse().ok())
        .with_context(|| format!("unexpected GNU time report `{last}`"))?;
    let secs: f64 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0.0);
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    Ok((
        Peak {
            bytes: kib * 1024,
            secs,
        },
        stdout,
    ))
}

/// Free bytes on the file system of `dir` (`df`).
fn free_disk(dir: &Path) -> Result<u64> {
    let out = cmd::output(Command::new("df").args(["--output=avail", "-B1"]).arg(dir))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .context("could not read the free space from `df`")
}

/// `size` bytes of `/dev/urandom` at `path`, streamed.
fn write_payload(path: &Path, size: u64) -> Result<()> {
    let mut random = std::fs::File::open("/dev/urandom").context("could not open /dev/urandom")?;
    let mut file = std::fs::File::create(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    let copied = std::io::copy(&mut std::io::Read::take(&mut random, size), &mut file)
        .with_context(|| format!("could not write {}", path.display()))?;
    if copied != size {
        bail!("wrote {copied} of {size} bytes to {}", path.display());
    }
    Ok(())
}

/// The crate: a tiny program and its asset in the package, the image and the archives.
fn write_crate(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("could not create {}", dir.display()))?;
    let files = [
        (
            "Cargo.toml",
            format!(
                r#"[package]
name = "{NAME}"
version = "{VERSION}"
edition = "2021"
description = "cargo-forge's memory benchmark: a tiny program that ships a large asset"
license = "MIT"
authors = ["cargo-forge bench <bench@example.com>"]
repository = "https://example.com/{NAME}"
readme = "README.md"
publish = false

[workspace]

[package.metadata.deb]
maintainer = "cargo-forge bench <bench@example.com>"
assets = [
    ["target/release/{NAME}", "usr/bin/", "755"],
    ["payload.bin", "usr/share/{NAME}/payload.bin", "644"],
]

[package.metadata.forge.image]
assets = [["payload.bin", "/usr/share/{NAME}/", "644"]]
"#
            ),
        ),
        (
            "src/main.rs",
            "fn main() {\n    println!(\"{} {}\", env!(\"CARGO_PKG_NAME\"), env!(\"CARGO_PKG_VERSION\"));\n}\n".to_string(),
        ),
        (
            "README.md",
            format!("# {NAME}\n\nA tiny program that ships a large asset (cargo-forge's memory benchmark).\n"),
        ),
        ("LICENSE", "MIT License\n\nCopyright (c) cargo-forge bench\n".to_string()),
        (".gitignore", "target/\ndist/\npayload.bin\n".to_string()),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("could not write {}", dir.join(name).display()))?;
    }
    Ok(())
}

fn git_identity(c: &mut Command) {
    c.env("GIT_AUTHOR_NAME", "cargo-forge bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "cargo-forge bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com");
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let mut c = Command::new("git");
    c.args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir);
    git_identity(&mut c);
    cmd::output(&mut c).map(|_| ())
}

/// The crate as a fresh git repository on `main`, with a release table publishing to `host`
/// (a TOML table) with archives in `format`, pushed to a fresh bare `origin`. The payload stays
/// out of git (`.gitignore`), as a generated asset would; the archives `include` it.
fn fresh_repo(krate: &Path, origin: &Path, format: &str, host: &str) -> Result<()> {
    app::remove(origin)?;
    app::remove(&krate.join(".git"))?;
    std::fs::create_dir_all(origin)
        .with_context(|| format!("could not create {}", origin.display()))?;
    git(origin, &["init", "-q", "--bare"])?;
    let manifest = krate.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("could not read {}", manifest.display()))?;
    let text = match text.find("\n[package.metadata.forge.release]") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let table = format!(
        "\n[package.metadata.forge.release]\n\
         targets = [\"{HOST_TARGET}\"]\n\
         artifacts = [\"archive\", \"deb\", \"image\"]\n\
         archive-format = \"{format}\"\n\
         include = [\"payload.bin\"]\n\
         hosts = [{host}]\n"
    );
    std::fs::write(&manifest, format!("{text}{table}"))
        .with_context(|| format!("could not write {}", manifest.display()))?;
    git(krate, &["init", "-q"])?;
    git(krate, &["add", "-A"])?;
    git(krate, &["commit", "-q", "-m", "memory bench app"])?;
    git(
        krate,
        &["remote", "add", "origin", &origin.display().to_string()],
    )?;
    git(krate, &["push", "-q", "origin", "main"])?;
    Ok(())
}

/// The table of the issue: one row per command, one column per size.
fn print_side_by_side(sizes: &[u64], peaks: &[Vec<Option<Peak>>]) {
    let mut header = vec!["peak resident memory".to_string()];
    header.extend(sizes.iter().map(|s| size_label(*s)));
    header.push("goal".into());
    let mut rows = vec![header];
    for (i, step) in STEPS.iter().enumerate() {
        let mut row = vec![step.to_string()];
        row.extend(peaks[i].iter().map(|p| match p {
            Some(p) => mib(p.bytes),
            None => "skipped".into(),
        }));
        let all_met = peaks[i].iter().flatten().all(|p| p.bytes < GOAL);
        row.push(format!(
            "< {} {}",
            mib(GOAL),
            if all_met { "MET" } else { "MISSED" }
        ));
        rows.push(row);
    }
    let cols = rows[0].len();
    let width: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    println!();
    for (n, r) in rows.iter().enumerate() {
        let mut line = format!("{:<w$}", r[0], w = width[0]);
        for c in 1..cols {
            line.push_str(&format!("  {:>w$}", r[c], w = width[c]));
        }
        println!("{line}");
        if n == 0 {
            println!(
                "{}",
                "-".repeat(width.iter().sum::<usize>() + 2 * (cols - 1))
            );
        }
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("2T"), None);
        assert_eq!(parse_size("0M"), None);
        assert_eq!(size_label(2 << 30), "2 GiB");
        assert_eq!(size_label(512 << 20), "512 MiB");
    }
}

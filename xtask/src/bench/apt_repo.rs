//! `apt-repo-scale`: an APT repository of thousands of packages, by `cargo forge-deb repo`,
//! reprepro and aptly (Debian's packages, installed by `cargo xtask setup`), in one run.
//!
//! For each size (500 and 5,000 small packages) every tool indexes the packages from scratch
//! into an empty repository (the full index), then one more package is added to that
//! repository (the add), which shows whether the add costs O(1) or O(repository). The three
//! produce the same thing: a pool, `dists/stable/main/binary-amd64/Packages{,.gz,.xz}` and an
//! unsigned `Release` (reprepro with `DebIndices: Packages Release . .gz .xz`; aptly publishes
//! `.gz` and `.bz2` as it always does, it has no setting for the set). For aptly the time is
//! the sum of its commands: `repo create` + `repo add` + `publish repo` for the full index, and
//! `repo add` + `publish update` for the add. Each add starts from a copy of the full
//! repository (copied untimed), so every run adds to the same state.
//!
//! The packages are generated here (ar + tar written directly, uncompressed members, as
//! `dpkg-deb -Znone` writes them; 5,000 `dpkg-deb` runs would take minutes), once, under
//! `target/bench/apt-repo-scale/debs/`: `forge-scale-NNNNN 1.0-1 amd64`, each with a README, and
//! the added package `forge-scale-02500a`, which sorts into the middle of the index.
//!
//! Goals (issue 17): the add ≤ 0.2× the faster peer's and flat in repository size (here: the
//! add at 5,000 ≤ 1.5× the add at 500), the full index ≤ 0.5× the faster peer's.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::common::{idle, round, secs, BenchResult, Row, Sample, Series};
use super::Options;
use crate::cmd::{self, status};

/// Repository sizes measured.
const SIZES: [usize; 2] = [500, 5000];
const ADDED: &str = "forge-scale-02500a";
const ADD_RATIO: f64 = 0.2;
const FULL_RATIO: f64 = 0.5;
/// The add at the largest size over the add at the smallest: at most this is "flat".
const FLAT_RATIO: f64 = 1.5;
/// Bumped when the generated packages change, so an old corpus is regenerated.
const CORPUS_VERSION: &str = "1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Forge,
    Reprepro,
    Aptly,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Forge, Tool::Reprepro, Tool::Aptly];

    fn name(self) -> &'static str {
        match self {
            Tool::Forge => "cargo forge-deb repo",
            Tool::Reprepro => "reprepro",
            Tool::Aptly => "aptly",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Tool::Forge => "forge",
            Tool::Reprepro => "reprepro",
            Tool::Aptly => "aptly",
        }
    }
}

pub fn run(forge_deb: &Path, bench_dir: &Path, opts: &Options) -> Result<BenchResult> {
    for (tool, hint) in [("reprepro", "reprepro"), ("aptly", "aptly")] {
        if cmd::find_in_path(tool).is_none() {
            bail!("`{tool}` is not installed: run `cargo xtask setup` (it installs the Debian package {hint})");
        }
    }
    let work = bench_dir.join("apt-repo-scale");
    let corpus = make_corpus(&work.join("debs"), *SIZES.iter().max().expect("sizes"))?;
    // Read once so that the first tool measured does not pay for a cold page cache.
    for deb in corpus.packages.iter().chain([&corpus.added]) {
        std::fs::read(deb).with_context(|| format!("could not read {}", deb.display()))?;
    }
    let scratch = work.join("runs");
    let versions = json!({
        "reprepro": super::common::first_line(Command::new("reprepro").arg("--version")),
        "aptly": super::common::first_line(Command::new("aptly").arg("version")),
    });

    let mut rows = Vec::new();
    let mut sizes_json = Vec::new();
    let mut contention: f64 = 0.0;
    let mut adds_ours = Vec::new();
    for &n in &SIZES {
        let debs = &corpus.packages[..n];
        // The full index: fewer runs at the largest size (a peer takes tens of seconds).
        let full_runs = if n >= 5000 {
            opts.runs.min(3)
        } else {
            opts.runs
        };
        let mut full: Vec<Series> = Tool::ALL.iter().map(|_| Series::default()).collect();
        let mut add: Vec<Series> = Tool::ALL.iter().map(|_| Series::default()).collect();
        let mut sizes = Vec::new();
        for round_no in 1..=full_runs {
            for (i, tool) in Tool::ALL.iter().enumerate() {
                let dir = scratch.join(format!("{}-{n}", tool.key()));
                reset(&dir)?;
                let waited = idle(opts, round_no);
                let s = full_index(*tool, forge_deb, &dir, debs)?;
                check(*tool, &dir, n)?;
                status(
                    "Measured",
                    format!(
                        "{n} packages, full index, {} run {round_no}/{full_runs}: {}",
                        tool.name(),
                        super::common::describe_sample(&s)
                    ),
                );
                full[i].record(round_no, &s, waited);
                if round_no == 1 {
                    sizes.push(
                        json!({ "tool": tool.key(), "index_bytes": index_bytes(*tool, &dir) }),
                    );
                }
            }
        }
        // The add, to a copy of each full repository; round 0 is the warm-up.
        for round_no in 0..=opts.runs {
            for (i, tool) in Tool::ALL.iter().enumerate() {
                let base = scratch.join(format!("{}-{n}", tool.key()));
                let dir = scratch.join(format!("{}-{n}-add", tool.key()));
                reset(&dir)?;
                copy_tree(&base, &dir)?;
                let waited = idle(opts, round_no);
                let s = add_one(*tool, forge_deb, &dir, &corpus.added)?;
                check(*tool, &dir, n + 1)?;
                status(
                    "Measured",
                    format!(
                        "{n} packages, add one, {} {}: {}",
                        tool.name(),
                        if round_no == 0 {
                            "warm-up".to_owned()
                        } else {
                            format!("run {round_no}/{}", opts.runs)
                        },
                        super::common::describe_sample(&s)
                    ),
                );
                add[i].record(round_no, &s, waited);
            }
        }
        let full_m: Vec<f64> = full.iter().map(Series::median).collect();
        let add_m: Vec<f64> = add.iter().map(Series::median).collect();
        let (full_peer, full_peer_m) = faster_peer(&full_m);
        let (add_peer, add_peer_m) = faster_peer(&add_m);
        let full_ratio = full_m[0] / full_peer_m;
        let add_ratio = add_m[0] / add_peer_m;
        adds_ours.push(add_m[0]);
        for s in full.iter().chain(&add) {
            contention = contention.max(s.background_cores());
        }
        rows.push(Row {
            label: format!("apt-repo full index ({n}) vs {}", full_peer.key()),
            ours: secs(full_m[0]),
            peer: secs(full_peer_m),
            ratio: format!("{full_ratio:.2}x"),
            target: format!("time <= {FULL_RATIO}x"),
            met: (n == 5000).then_some(full_ratio <= FULL_RATIO),
        });
        rows.push(Row {
            label: format!("apt-repo add one ({n}) vs {}", add_peer.key()),
            ours: secs(add_m[0]),
            peer: secs(add_peer_m),
            ratio: format!("{add_ratio:.3}x"),
            target: format!("time <= {ADD_RATIO}x"),
            met: Some(add_ratio <= ADD_RATIO),
        });
        sizes_json.push(json!({
            "packages": n,
            "full_index": Tool::ALL.iter().zip(&full).map(|(t, s)| (t.key().to_owned(), s.json())).collect::<serde_json::Map<_, _>>(),
            "add_one": Tool::ALL.iter().zip(&add).map(|(t, s)| (t.key().to_owned(), s.json())).collect::<serde_json::Map<_, _>>(),
            "full_ratio_vs_faster_peer": round(full_ratio, 4),
            "faster_peer_full": full_peer.key(),
            "add_ratio_vs_faster_peer": round(add_ratio, 4),
            "faster_peer_add": add_peer.key(),
            "index_sizes": sizes,
        }));
    }
    let flat = adds_ours[1] / adds_ours[0];
    rows.push(Row {
        label: format!(
            "apt-repo add one, {} vs {} packages (ours)",
            SIZES[1], SIZES[0]
        ),
        ours: secs(adds_ours[1]),
        peer: secs(adds_ours[0]),
        ratio: format!("{flat:.2}x"),
        target: format!("flat: <= {FLAT_RATIO}x"),
        met: Some(flat <= FLAT_RATIO),
    });
    Ok(BenchResult {
        rows,
        json: json!({
            "name": "apt-repo-scale",
            "peers": versions,
            "commands": commands_json(),
            "sizes": sizes_json,
            "add_flatness_ratio": round(flat, 4),
            "targets": {
                "add_vs_faster_peer": ADD_RATIO,
                "full_vs_faster_peer": FULL_RATIO,
                "add_largest_vs_smallest": FLAT_RATIO,
            },
        }),
        contention,
        levels: Vec::new(),
    })
}

/// The faster of the two peers (indexes 1 and 2) and its median.
fn faster_peer(medians: &[f64]) -> (Tool, f64) {
    if medians[1] <= medians[2] {
        (Tool::Reprepro, medians[1])
    } else {
        (Tool::Aptly, medians[2])
    }
}

fn commands_json() -> Value {
    json!({
        "forge": ["cargo-forge-deb forge-deb repo --dir DIR --suite stable DEB..."],
        "reprepro": ["reprepro -b DIR includedeb stable DEB... (conf/distributions: Codename stable, Architectures amd64, Components main, DebIndices: Packages Release . .gz .xz)"],
        "aptly": [
            "aptly -config DIR/aptly.conf repo create -distribution=stable -component=main bench",
            "aptly -config DIR/aptly.conf repo add bench DEB...",
            "aptly -config DIR/aptly.conf publish repo -skip-signing -architectures=amd64 bench",
            "add: aptly repo add bench DEB; aptly publish update -skip-signing stable",
        ],
    })
}

fn reset(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("could not remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    // `cp -a FROM/. TO`: a real copy (reprepro and aptly change their databases in place).
    let mut c = Command::new("cp");
    c.arg("-a").arg(from.join(".")).arg(to);
    cmd::output(&mut c).map(|_| ())
}

/// Runs `commands` one after the other; one sample with their summed times.
fn timed_all(commands: Vec<Command>) -> Result<Sample> {
    let mut total: Option<Sample> = None;
    for mut c in commands {
        let s = super::common::timed(&mut c)?;
        total = Some(match total {
            None => s,
            Some(mut t) => {
                t.secs += s.secs;
                t.cpu_s += s.cpu_s;
                t.foreign_cpu_s += s.foreign_cpu_s;
                t.output = s.output;
                t
            }
        });
    }
    total.context("no command to time")
}

fn aptly(dir: &Path) -> Command {
    let mut c = Command::new("aptly");
    c.arg("-config").arg(dir.join("aptly.conf"));
    c
}

fn full_index(tool: Tool, forge_deb: &Path, dir: &Path, debs: &[PathBuf]) -> Result<Sample> {
    match tool {
        Tool::Forge => {
            let mut c = Command::new(forge_deb);
            c.args(["forge-deb", "repo", "--dir"])
                .arg(dir.join("repo"))
                .args(["--suite", "stable"])
                .args(debs);
            timed_all(vec![c])
        }
        Tool::Reprepro => {
            let conf = dir.join("conf");
            std::fs::create_dir_all(&conf)
                .with_context(|| format!("could not create {}", conf.display()))?;
            std::fs::write(
                conf.join("distributions"),
                "Codename: stable\nSuite: stable\nArchitectures: amd64\nComponents: main\n\
                 DebIndices: Packages Release . .gz .xz\n",
            )
            .context("could not write reprepro's conf/distributions")?;
            let mut c = Command::new("reprepro");
            c.arg("-b")
                .arg(dir)
                .args(["includedeb", "stable"])
                .args(debs);
            timed_all(vec![c])
        }
        Tool::Aptly => {
            std::fs::write(
                dir.join("aptly.conf"),
                serde_json::to_string_pretty(&json!({
                    "rootDir": dir.join("aptly"),
                    "architectures": ["amd64"],
                    "gpgDisableSign": true,
                    "gpgDisableVerify": true,
                }))?,
            )
            .context("could not write aptly.conf")?;
            let mut create = aptly(dir);
            create.args([
                "repo",
                "create",
                "-distribution=stable",
                "-component=main",
                "bench",
            ]);
            let mut add = aptly(dir);
            add.args(["repo", "add", "bench"]).args(debs);
            let mut publish = aptly(dir);
            publish.args([
                "publish",
                "repo",
                "-skip-signing",
                "-architectures=amd64",
                "bench",
            ]);
            timed_all(vec![create, add, publish])
        }
    }
}

fn add_one(tool: Tool, forge_deb: &Path, dir: &Path, deb: &Path) -> Result<Sample> {
    match tool {
        Tool::Forge => {
            let mut c = Command::new(forge_deb);
            c.args(["forge-deb", "repo", "--dir"])
                .arg(dir.join("repo"))
                .args(["--suite", "stable"])
                .arg(deb);
            timed_all(vec![c])
        }
        Tool::Reprepro => {
            let mut c = Command::new("reprepro");
            c.arg("-b").arg(dir).args(["includedeb", "stable"]).arg(deb);
            timed_all(vec![c])
        }
        Tool::Aptly => {
            // The copied configuration names the original root: point it at the copy.
            std::fs::write(
                dir.join("aptly.conf"),
                serde_json::to_string_pretty(&json!({
                    "rootDir": dir.join("aptly"),
                    "architectures": ["amd64"],
                    "gpgDisableSign": true,
                    "gpgDisableVerify": true,
                }))?,
            )
            .context("could not write aptly.conf")?;
            let mut add = aptly(dir);
            add.args(["repo", "add", "bench"]).arg(deb);
            let mut publish = aptly(dir);
            publish.args(["publish", "update", "-skip-signing", "stable"]);
            timed_all(vec![add, publish])
        }
    }
}

/// The published `dists/stable` of each tool.
fn dists(tool: Tool, dir: &Path) -> PathBuf {
    match tool {
        Tool::Forge => dir.join("repo/dists/stable"),
        Tool::Reprepro => dir.join("dists/stable"),
        Tool::Aptly => dir.join("aptly/public/dists/stable"),
    }
}

/// Checks that the tool's amd64 index lists `n` packages (untimed).
fn check(tool: Tool, dir: &Path, n: usize) -> Result<()> {
    let packages = dists(tool, dir).join("main/binary-amd64/Packages");
    let text = std::fs::read_to_string(&packages)
        .with_context(|| format!("{} wrote no {}", tool.name(), packages.display()))?;
    let count = text.lines().filter(|l| l.starts_with("Package: ")).count();
    if count != n {
        bail!(
            "{} lists {count} packages in {}, expected {n}",
            tool.name(),
            packages.display()
        );
    }
    if !dists(tool, dir).join("Release").is_file() {
        bail!("{} wrote no Release", tool.name());
    }
    Ok(())
}

/// Sizes of the index files each tool wrote.
fn index_bytes(tool: Tool, dir: &Path) -> Value {
    let arch = dists(tool, dir).join("main/binary-amd64");
    let mut out = serde_json::Map::new();
    for name in ["Packages", "Packages.gz", "Packages.xz", "Packages.bz2"] {
        if let Ok(m) = std::fs::metadata(arch.join(name)) {
            out.insert(name.to_owned(), json!(m.len()));
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// The generated packages

struct Corpus {
    packages: Vec<PathBuf>,
    added: PathBuf,
}

fn make_corpus(dir: &Path, n: usize) -> Result<Corpus> {
    let names: Vec<String> = (0..n).map(|i| format!("forge-scale-{i:05}")).collect();
    let path = |name: &str| dir.join(format!("{name}_1.0-1_amd64.deb"));
    let corpus = Corpus {
        packages: names.iter().map(|n| path(n)).collect(),
        added: path(ADDED),
    };
    let stamp = dir.join(".complete");
    let want = format!("{CORPUS_VERSION} {n}\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(corpus);
    }
    status(
        "Generating",
        format!("{} small packages in {}", n + 1, dir.display()),
    );
    reset(dir)?;
    for name in names.iter().map(String::as_str).chain([ADDED]) {
        std::fs::write(path(name), small_deb(name))
            .with_context(|| format!("could not write {}", path(name).display()))?;
    }
    std::fs::write(&stamp, want).with_context(|| format!("could not write {}", stamp.display()))?;
    Ok(corpus)
}

/// A small binary package, as `dpkg-deb -Znone --root-owner-group` would build it.
fn small_deb(name: &str) -> Vec<u8> {
    let readme = format!("{name}\n\nA generated package of the apt-repo-scale benchmark.\n");
    let control = format!(
        "Package: {name}\nVersion: 1.0-1\nArchitecture: amd64\n\
         Maintainer: cargo-forge bench <bench@example.com>\nInstalled-Size: 1\n\
         Section: utils\nPriority: optional\nHomepage: https://example.com/{name}\n\
         Description: generated package {name}\n A small package of the apt-repo-scale benchmark of\n \
         cargo-forge: one README, nothing else.\n"
    );
    let md5sums = String::new();
    let control_tar = tar(&[
        Entry::Dir("./"),
        Entry::File("./control", control.as_bytes(), 0o644),
        Entry::File("./md5sums", md5sums.as_bytes(), 0o644),
    ]);
    let doc = format!("./usr/share/doc/{name}/");
    let readme_path = format!("{doc}README");
    let data_tar = tar(&[
        Entry::Dir("./"),
        Entry::Dir("./usr/"),
        Entry::Dir("./usr/share/"),
        Entry::Dir("./usr/share/doc/"),
        Entry::Dir(&doc),
        Entry::File(&readme_path, readme.as_bytes(), 0o644),
    ]);
    let mut out = b"!<arch>\n".to_vec();
    for (member, data) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar", &control_tar),
        ("data.tar", &data_tar),
    ] {
        out.extend_from_slice(
            format!(
                "{member:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                1_700_000_000,
                0,
                0,
                100_644,
                data.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
}

/// A ustar archive (POSIX.1-1988 headers; names here are short).
fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (name, data, mode, kind): (&str, &[u8], u32, u8) = match e {
            Entry::Dir(n) => (n, b"", 0o755, b'5'),
            Entry::File(n, d, m) => (n, d, *m, b'0'),
        };
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
        put(&mut h, 0, name.as_bytes());
        put(&mut h, 100, format!("{mode:07o}\0").as_bytes());
        put(&mut h, 108, b"0000000\0");
        put(&mut h, 116, b"0000000\0");
        put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
        put(
            &mut h,
            136,
            format!("{:011o}\0", 1_700_000_000u64).as_bytes(),
        );
        put(&mut h, 148, b"        ");
        h[156] = kind;
        put(&mut h, 257, b"ustar\0");
        put(&mut h, 263, b"00");
        put(&mut h, 265, b"root");
        put(&mut h, 297, b"root");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dpkg-deb reads the generated package (skipped where dpkg-deb is absent).
    #[test]
    fn generated_packages_are_debs() {
        if cmd::find_in_path("dpkg-deb").is_none() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("forge-scale-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let deb = dir.join("p.deb");
        std::fs::write(&deb, small_deb("forge-scale-00001")).unwrap();
        let out = Command::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(info.contains("Package: forge-scale-00001"), "{info}");
        let out = Command::new("dpkg-deb")
            .arg("--contents")
            .arg(&deb)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("README"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

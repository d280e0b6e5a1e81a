//! Support code for the end-to-end tests: locating (and building once) the real binaries,
//! copying fixture crates into scratch directories, running commands with readable failures,
//! reading `.deb` files without dpkg, a real OCI registry to push to ([`registry`]) and a real
//! container engine to run images in ([`docker`]).
//!
//! End-to-end tests need real tools (lintian, qemu, the arm64 toolchain, debootstrap…), which
//! `cargo xtask setup` installs. Under `cargo xtask test` (`FORGE_E2E=1`) a missing tool fails the
//! test; under a plain `cargo test` such a test is skipped with a note, so a developer without
//! the tools still gets a green unit-test run.

pub mod act;
pub mod docker;
pub mod docs;
pub mod faults;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

pub mod github;
pub mod hostile;
pub mod registry;
pub mod s3;
pub mod schemas;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Whether end-to-end tests must run (set by `cargo xtask test`).
pub fn e2e_required() -> bool {
    std::env::var_os("FORGE_E2E").is_some_and(|v| v == "1")
}

/// Checks that the tools a test needs exist. Returns false (and prints why) when the test
/// should be skipped; panics when they are missing under `cargo xtask test`.
pub fn require_tools(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| {
            if t.starts_with('/') {
                !Path::new(t).exists()
            } else {
                which(t).is_none()
            }
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if e2e_required() {
        panic!("missing test prerequisites {missing:?}: run `cargo xtask setup`");
    }
    eprintln!("note: skipping, missing {missing:?} (run `cargo xtask test` to install and run everything)");
    false
}

/// A program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// The path of one of our binaries, building the workspace's binaries once per test run.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--bins",
                "-p",
                "cargo-forge-deb",
                "-p",
                "cargo-forge-image",
                "-p",
                "cargo-forge-release",
                "-p",
                "cargo-forge-rpm",
            ])
            .current_dir(&root)
            .status()
            .expect("failed to run cargo build for the binaries");
        assert!(status.success(), "building the binaries failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target.join("debug")
    });
    dir.join(name)
}

/// A scratch copy of a fixture crate.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// Copies `tests/fixtures/<name>` into a new temporary directory (without `target/`).
    pub fn copy(name: &str) -> Fixture {
        let src = workspace_root().join("tests/fixtures").join(name);
        let dir = tempfile::Builder::new()
            .prefix(&format!("forge-{name}-"))
            .tempdir()
            .expect("tempdir");
        copy_dir(&src, dir.path()).expect("copy fixture");
        Fixture { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `.deb` files in `target/debian/`, sorted.
    pub fn debs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.path().join("target/debian"))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "deb"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Runs `cargo-forge-deb forge-deb ARGS` in the fixture.
    pub fn forge_deb(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(bin("cargo-forge-deb"));
        cmd.arg("forge-deb")
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1");
        run(&mut cmd)
    }

    /// Replaces `from` with `to` in the fixture's Cargo.toml (for bad-input tests).
    pub fn edit_manifest(&self, from: &str, to: &str) {
        self.edit_manifest_at("Cargo.toml", from, to)
    }

    /// Replaces `from` with `to` in a file of the fixture.
    pub fn edit_manifest_at(&self, rel: &str, from: &str, to: &str) {
        let p = self.path().join(rel);
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.contains(from), "`{from}` not in {}", p.display());
        std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
    }
}

fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src).with_context(|| format!("read {}", src.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        if entry.file_type()?.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("copy {}", from.display()))?;
        }
    }
    Ok(())
}

/// Runs a command and returns its output (never panics on a non-zero exit).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"))
}

/// Asserts success, printing stdout and stderr otherwise.
#[track_caller]
pub fn assert_success(out: &Output, what: &str) {
    if !out.status.success() {
        panic!(
            "{what} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The members of an ar archive.
pub fn ar_members(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut ar = ar::Archive::new(std::fs::File::open(path)?);
    let mut out = Vec::new();
    while let Some(e) = ar.next_entry() {
        let mut e = e?;
        let name = String::from_utf8_lossy(e.header().identifier())
            .trim_end_matches('/')
            .to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b)?;
        out.push((name, b));
    }
    Ok(out)
}

fn decompress(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(bytes).read_to_end(&mut out)?;
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(bytes)?.read_to_end(&mut out)?;
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    } else {
        out = bytes.to_vec();
    }
    Ok(out)
}

/// The decompressed tar of member `prefix*` (`control.tar` or `data.tar`).
pub fn deb_tar(deb: &Path, prefix: &str) -> Result<Vec<u8>> {
    for (name, bytes) in ar_members(deb)? {
        if name.starts_with(prefix) {
            return decompress(&name, &bytes);
        }
    }
    bail!("{} has no {prefix} member", deb.display())
}

/// One entry of a tar listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub path: String,
    pub mode: u32,
    pub kind: char,
    pub uid: u64,
    pub mtime: u64,
    pub data: Vec<u8>,
}

/// All entries of a tar.
pub fn tar_entries(tar_bytes: &[u8]) -> Result<Vec<TarEntry>> {
    let mut ar = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in ar.entries()? {
        let mut e = e?;
        let h = e.header().clone();
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            _ => 'f',
        };
        let mut data = Vec::new();
        e.read_to_end(&mut data)?;
        out.push(TarEntry {
            path: raw,
            mode: h.mode().unwrap_or(0),
            kind,
            // cargo-deb writes old V7 headers whose uid field is all NULs (read as 0).
            uid: h.uid().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
            data,
        });
    }
    Ok(out)
}

/// The regular files and symlinks of a package's data, as normalised paths (`usr/bin/x`).
pub fn deb_files(deb: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = tar_entries(&deb_tar(deb, "data.tar")?)?
        .into_iter()
        .filter(|e| e.kind != 'd')
        .map(|e| e.path.trim_start_matches("./").to_string())
        .collect();
    v.sort();
    Ok(v)
}

/// One file of a package's data.
pub fn deb_file(deb: &Path, path: &str) -> Result<Vec<u8>> {
    tar_entries(&deb_tar(deb, "data.tar")?)?
        .into_iter()
        .find(|e| e.path.trim_start_matches("./") == path)
        .map(|e| e.data)
        .with_context(|| format!("{} has no {path}", deb.display()))
}

/// The control fields of a package (continuation lines joined with `\n`).
pub fn deb_control(deb: &Path) -> Result<BTreeMap<String, String>> {
    let entries = tar_entries(&deb_tar(deb, "control.tar")?)?;
    let control = entries
        .into_iter()
        .find(|e| e.path.trim_start_matches("./") == "control")
        .context("no control file")?;
    Ok(parse_control(&String::from_utf8_lossy(&control.data)))
}

/// Parses a deb822 paragraph.
pub fn parse_control(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(k) = &last {
                let v: &mut String = out.get_mut(k).expect("field");
                v.push('\n');
                v.push_str(line.trim_start());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.insert(k.to_string(), v.trim().to_string());
            last = Some(k.to_string());
        }
    }
    out
}

/// The names of the control archive's members (`control`, `md5sums`, `postinst`…).
pub fn deb_control_members(deb: &Path) -> Result<Vec<String>> {
    Ok(tar_entries(&deb_tar(deb, "control.tar")?)?
        .into_iter()
        .filter(|e| e.kind == 'f')
        .map(|e| e.path.trim_start_matches("./").to_string())
        .collect())
}

/// Writes one file of a package's data to `dir` and returns its path (for running binaries).
pub fn extract_to(deb: &Path, path: &str, dir: &Path) -> Result<PathBuf> {
    let bytes = deb_file(deb, path)?;
    let out = dir.join(Path::new(path).file_name().context("file name")?);
    std::fs::write(&out, bytes)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))?;
    Ok(out)
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}

/// An apt configuration of its own (state, cache, sources) in `dir`, for one repository, so
/// tests never touch the machine's apt: returns the `-o` options to pass to apt-get/apt-cache.
pub fn isolated_apt(dir: &Path, sources_line: &str, archs: &[&str]) -> Vec<String> {
    for d in [
        "state/lists/partial",
        "cache/archives/partial",
        "etc/preferences.d",
        "etc/apt.conf.d",
        "etc/sources.list.d",
    ] {
        std::fs::create_dir_all(dir.join(d)).expect("apt dirs");
    }
    std::fs::write(dir.join("state/status"), "").expect("apt status");
    std::fs::write(dir.join("etc/sources.list"), format!("{sources_line}\n"))
        .expect("sources.list");
    let mut opts = vec![
        format!("Dir::State={}", dir.join("state").display()),
        format!("Dir::State::status={}", dir.join("state/status").display()),
        format!("Dir::Cache={}", dir.join("cache").display()),
        format!(
            "Dir::Etc::SourceList={}",
            dir.join("etc/sources.list").display()
        ),
        format!(
            "Dir::Etc::SourceParts={}",
            dir.join("etc/sources.list.d").display()
        ),
        format!(
            "Dir::Etc::Preferences={}",
            dir.join("etc/preferences").display()
        ),
        format!(
            "Dir::Etc::PreferencesParts={}",
            dir.join("etc/preferences.d").display()
        ),
        "Debug::NoLocking=1".to_string(),
    ];
    for a in archs {
        opts.push(format!("APT::Architectures::={a}"));
    }
    opts.into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
}

/// A throwaway gpg home with one passphrase-less ed25519 signing key for `uid`
/// (`Name <email>`); pass it as `GNUPGHOME`.
pub fn gpg_home(uid: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("tempdir");
    let out = run(Command::new("gpg")
        .args([
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ])
        .env("GNUPGHOME", home.path()));
    assert_success(&out, "gpg key generation");
    home
}

/// A small binary package written directly (ar with gzip'd `control.tar.gz` and `data.tar.gz`
/// members, as `dpkg-deb -Zgzip` builds it), named as cargo-deb names its output: `name`
/// `version` for `arch`, holding one README. Quick enough to make thousands for repository tests.
pub fn small_deb(dir: &Path, name: &str, version: &str, arch: &str) -> PathBuf {
    use forge_core::archive::{write_tar, Entry, TarOptions};
    let opts = TarOptions {
        mtime: 1_700_000_000,
        dot_prefix: true,
        root_entry: true,
        ..TarOptions::default()
    };
    let gz_tar = |entries: Vec<Entry>| -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        write_tar(gz, entries, &opts)
            .and_then(|gz| Ok(gz.finish()?))
            .expect("tar")
    };
    let control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\n\
         Maintainer: cargo-forge tests <tests@example.com>\nInstalled-Size: 1\n\
         Section: utils\nPriority: optional\n\
         Description: test package {name}\n A small package of the repository tests.\n"
    );
    let control_tar = gz_tar(vec![
        Entry::bytes("control", control.into_bytes(), 0o644).unwrap()
    ]);
    let data_tar = gz_tar(vec![Entry::bytes(
        &format!("usr/share/doc/{name}/README"),
        format!("{name} {version}\n").into_bytes(),
        0o644,
    )
    .unwrap()]);
    let path = dir.join(format!("{name}_{version}_{arch}.deb"));
    let file = std::fs::File::create(&path).expect("create .deb");
    let mut ar = ar::Builder::new(file);
    for (member, data) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.gz", control_tar),
        ("data.tar.gz", data_tar),
    ] {
        let mut header = ar::Header::new(member.as_bytes().to_vec(), data.len() as u64);
        header.set_mode(0o100644);
        header.set_mtime(1_700_000_000);
        ar.append(&header, &data[..]).expect("ar member");
    }
    path
}

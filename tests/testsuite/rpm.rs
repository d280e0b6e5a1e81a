//! `cargo forge-rpm` end to end: a crate packaged by forge-deb gets a correct RPM with no new
//! configuration (x86_64 and aarch64, rpmlint clean, libc version needs, systemd scriptlets,
//! `%config(noreplace)`), reproducible bytes, a `[package.metadata.generate-rpm]` table giving
//! a file list that contains cargo-generate-rpm's, JSON and dry-run, `cargo forge-rpm repo` of the
//! packages made (dnf lists both architectures), and a signature `rpm -K`
//! verifies. rpm, rpmlint and gpg are the real Debian packages; cargo-generate-rpm is installed
//! by `cargo xtask setup`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use forge_tests::*;

const ARM64: &str = "aarch64-unknown-linux-gnu";
const AMD64: &str = "x86_64-unknown-linux-gnu";

/// `cargo-forge-rpm forge-rpm ARGS` in the fixture, with a fixed `SOURCE_DATE_EPOCH`.
fn forge_rpm(fx: &Fixture, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(bin("cargo-forge-rpm"));
    cmd.arg("forge-rpm")
        .args(args)
        .current_dir(fx.path())
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// The `.rpm` files of a directory, sorted.
fn rpms(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `rpm -qp ARGS RPM`, its stdout.
fn rpm_q(rpm: &Path, args: &[&str]) -> String {
    let out = run(Command::new("rpm").arg("-qp").args(args).arg(rpm));
    assert_success(&out, &format!("rpm -qp {args:?} {}", rpm.display()));
    stdout(&out)
}

/// rpmlint's errors for `rpm`, but for those `--lint` documents as expected (an unsigned
/// package, a name ending in a language code).
fn rpmlint_errors(rpm: &Path) -> Vec<String> {
    let out = run(Command::new("rpmlint").arg(rpm));
    let text = stdout(&out);
    assert!(
        text.contains("packages and"),
        "rpmlint did not run:\n{text}{}",
        stderr(&out)
    );
    cargo_forge_rpm::lint::findings(&text, false).0
}

/// The deb fixture (assets, conf file, systemd unit, maintainer scripts, no RPM table) for
/// x86_64 and aarch64 in one run with `--lint`: names, arches, libc needs, files and flags,
/// scriptlets; then the same inputs again (`--no-build`) give byte-identical packages.
#[test]
fn deb_fixture_packaged_for_two_arches_reproducibly() {
    if !require_tools(&[
        "/usr/bin/cargo",
        "/usr/lib/rustlib/aarch64-unknown-linux-gnu",
        "aarch64-linux-gnu-gcc",
        "rpm",
        "rpmlint",
    ]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    let out = forge_rpm(
        &fx,
        &[
            "--target",
            AMD64,
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
            "--lint",
        ],
        &[],
    );
    assert_success(&out, "forge-rpm --lint for two targets");
    let dir = fx.path().join("target/generate-rpm");
    let made = rpms(&dir);
    let names: Vec<String> = made
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "forge-fixture-cli-0.1.0-1.aarch64.rpm",
            "forge-fixture-cli-0.1.0-1.x86_64.rpm"
        ]
    );
    // stdout: one path per line.
    let printed: Vec<PathBuf> = stdout(&out).lines().map(PathBuf::from).collect();
    assert_eq!(printed.len(), 2, "{}", stdout(&out));
    for rpm in &made {
        let arch = if rpm.to_string_lossy().contains("aarch64") {
            "aarch64"
        } else {
            "x86_64"
        };
        assert_eq!(
            rpm_q(rpm, &["--qf", "%{ARCH} %{LICENSE}"]),
            format!("{arch} MIT")
        );
        let requires = rpm_q(rpm, &["--requires"]);
        assert!(
            requires
                .lines()
                .any(|l| l.starts_with("libc.so.6(GLIBC_2.") && l.ends_with(")(64bit)")),
            "{arch}: {requires}"
        );
        assert!(
            requires.lines().any(|l| l == "libc.so.6()(64bit)"),
            "{requires}"
        );
        let files = rpm_q(rpm, &["--list"]);
        for f in [
            "/usr/bin/forge-fixture-cli",
            "/usr/lib/systemd/system/forge-fixture-cli.service",
            "/etc/forge-fixture-cli/config.toml",
            "/usr/share/man/man1/forge-fixture-cli.1.gz",
            "/usr/share/licenses/forge-fixture-cli/LICENSE",
        ] {
            assert!(
                files.lines().any(|l| l == f),
                "{arch}: {f} missing:\n{files}"
            );
        }
        // The conf file is %config(noreplace) (rpm's `c` and `n` file flags).
        let flags = rpm_q(rpm, &["--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"]);
        assert!(
            flags
                .lines()
                .any(|l| l == "cn /etc/forge-fixture-cli/config.toml"),
            "{flags}"
        );
        // systemd: enable = false (no preset), disabled and stopped on erase, restarted after
        // an upgrade.
        let scripts = rpm_q(rpm, &["--scripts"]);
        assert!(
            scripts.contains("disable --now 'forge-fixture-cli.service'")
                && scripts.contains("try-restart 'forge-fixture-cli.service'")
                && !scripts.contains("preset"),
            "{scripts}"
        );
        assert_eq!(rpmlint_errors(rpm), Vec::<String>::new());
        // The binary is stripped: smaller than the one cargo built.
        let dump = rpm_q(rpm, &["--dump"]);
        let packed: u64 = dump
            .lines()
            .find_map(|l| l.strip_prefix("/usr/bin/forge-fixture-cli "))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no binary in:\n{dump}"));
        let triple = if arch == "aarch64" { ARM64 } else { AMD64 };
        let built = std::fs::metadata(
            fx.path()
                .join("target")
                .join(triple)
                .join("release/forge-fixture-cli"),
        )
        .unwrap()
        .len();
        assert!(
            packed < built,
            "{arch}: {packed} bytes packed, {built} built"
        );
    }
    // Reproducible: the same binaries and SOURCE_DATE_EPOCH give the same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = fx.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let out = forge_rpm(
        &fx,
        &[
            "--target",
            AMD64,
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
            "--no-build",
            "-o",
            again.to_str().unwrap(),
        ],
        &[],
    );
    assert_success(&out, "forge-rpm again");
    let second = rpms(&again);
    assert_eq!(second.len(), 2);
    for (a, b) in made.iter().zip(&second) {
        assert_eq!(sha256_file(a), sha256_file(b), "{} differs", b.display());
    }

    // `cargo forge-rpm repo` on the packages just made: its JSON report, and dnf lists both
    // architectures from the repository (listing needs no dependency resolution; installing
    // them into a root is the repository tests' and the install test's part).
    let repo = fx.path().join("yum");
    let mut args = vec![
        "repo",
        "--dir",
        repo.to_str().unwrap(),
        "--message-format",
        "json",
    ];
    args.extend(made.iter().map(|p| p.to_str().unwrap()));
    let out = forge_rpm(&fx, &args, &[]);
    assert_success(&out, "forge-rpm repo");
    let report = crate::json::document(&out, "cargo-forge/rpm-repo/v1");
    assert_eq!(report["packages"], 2, "{report}");
    assert!(repo.join("repodata/repomd.xml").is_file());
    for arch in ["x86_64", "aarch64"] {
        let root = fx.path().join(format!("dnf-{arch}"));
        let out = run(Command::new("dnf")
            .arg("--installroot")
            .arg(&root)
            .args(["--releasever", "1", "--setopt=reposdir=/nonexistent", "-q"])
            .arg(format!("--repofrompath=forge,file://{}", repo.display()))
            .args([
                "--repo",
                "forge",
                "--setopt=forge.gpgcheck=0",
                "--forcearch",
                arch,
            ])
            .args(["list", "--available", "forge-fixture-cli"]));
        assert_success(&out, &format!("dnf list ({arch})"));
        assert!(
            stdout(&out).contains(&format!("forge-fixture-cli.{arch}")),
            "dnf does not list the {arch} package:\n{}",
            stdout(&out)
        );
    }
}

const GENERATE_RPM_TABLE: &str = r#"
[package.metadata.generate-rpm]
assets = [
    { source = "target/release/forge-fixture-cli", dest = "/usr/bin/forge-fixture-cli", mode = "755" },
    { source = "conf/config.toml", dest = "/etc/forge-fixture-cli/config.toml", mode = "644", config = "noreplace" },
    { source = "README.md", dest = "/usr/share/doc/forge-fixture-cli/README.md", mode = "644", doc = true },
    { source = "doc/*.1", dest = "/usr/share/man/man1/", mode = "644", doc = true },
]
post_install_script = "echo installed forge-fixture-cli"
release = "3"

[package.metadata.generate-rpm.requires]
bash = ">= 4"
"#;

/// A `[package.metadata.generate-rpm]` table: the file list contains cargo-generate-rpm 0.16's
/// for the same table and binaries, with the same names, flags and relations; the JSON
/// document describes what was written; a signed package passes `rpm -K`.
#[test]
fn generate_rpm_table_matches_cargo_generate_rpm_and_signs() {
    if !require_tools(&["rpm", "gpg"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    let manifest = fx.path().join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(GENERATE_RPM_TABLE);
    std::fs::write(&manifest, text).unwrap();

    let out = forge_rpm(&fx, &["--message-format", "json"], &[]);
    assert_success(&out, "forge-rpm with a generate-rpm table");
    let doc = crate::json::document(&out, "cargo-forge/rpm-packages/v1");
    let p = &doc["packages"][0];
    let ours = PathBuf::from(p["path"].as_str().unwrap());
    assert_eq!(p["sha256"].as_str().unwrap(), sha256_file(&ours));
    assert_eq!(
        ours.file_name().unwrap().to_string_lossy(),
        format!("forge-fixture-cli-0.1.0-3.{}.rpm", std::env::consts::ARCH)
    );
    let requires = rpm_q(&ours, &["--requires"]);
    for r in ["bash >= 4", "/bin/sh"] {
        assert!(requires.lines().any(|l| l == r), "{r}: {requires}");
    }
    assert!(requires.contains("libc.so.6(GLIBC_2."), "{requires}");
    assert!(rpm_q(&ours, &["--scripts"]).contains("echo installed forge-fixture-cli"));
    let flags = rpm_q(&ours, &["--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"]);
    assert!(
        flags
            .lines()
            .any(|l| l == "cn /etc/forge-fixture-cli/config.toml"),
        "{flags}"
    );
    assert!(
        flags
            .lines()
            .any(|l| l == "d /usr/share/man/man1/forge-fixture-cli.1"),
        "{flags}"
    );

    // cargo-generate-rpm on the same table and binary.
    let reference = std::env::var_os("FORGE_CARGO_GENERATE_RPM")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| which("cargo-generate-rpm"));
    match reference {
        Some(cgr) => {
            let theirs_dir = fx.path().join("theirs");
            std::fs::create_dir(&theirs_dir).unwrap();
            let out = run(Command::new(cgr)
                .args(["generate-rpm", "-o"])
                .arg(&theirs_dir)
                .current_dir(fx.path())
                .env("SOURCE_DATE_EPOCH", "1700000000"));
            assert_success(&out, "cargo generate-rpm");
            let theirs = rpms(&theirs_dir);
            assert_eq!(theirs.len(), 1, "{theirs:?}");
            let theirs = &theirs[0];
            assert_eq!(
                theirs.file_name(),
                ours.file_name(),
                "the same file name as cargo-generate-rpm"
            );
            let ours_list = rpm_q(&ours, &["--list"]);
            for f in rpm_q(theirs, &["--list"]).lines() {
                assert!(
                    ours_list.lines().any(|l| l == f),
                    "{f} missing:\n{ours_list}"
                );
            }
            let q = "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE}";
            assert_eq!(rpm_q(&ours, &["--qf", q]), rpm_q(theirs, &["--qf", q]));
            let their_flags = rpm_q(theirs, &["--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"]);
            for l in their_flags.lines() {
                assert!(flags.lines().any(|o| o == l), "`{l}` not in ours:\n{flags}");
            }
            for r in rpm_q(theirs, &["--requires"]).lines() {
                if r.starts_with("rpmlib(") {
                    continue;
                }
                assert!(
                    requires.lines().any(|o| o == r),
                    "`{r}` not in ours:\n{requires}"
                );
            }
        }
        None => assert!(
            !e2e_required(),
            "cargo-generate-rpm is not installed: run `cargo xtask setup`"
        ),
    }

    // Signed with a throwaway key: `rpm -K` verifies it against that key only.
    let home = gpg_home("Forge Test <forge@example.com>");
    let signed_dir = fx.path().join("signed");
    std::fs::create_dir(&signed_dir).unwrap();
    let out = forge_rpm(
        &fx,
        &[
            "--no-build",
            "--sign-key",
            "forge@example.com",
            "-o",
            signed_dir.to_str().unwrap(),
        ],
        &[("GNUPGHOME", home.path())],
    );
    assert_success(&out, "forge-rpm --sign-key");
    let signed = &rpms(&signed_dir)[0];
    let key = run(Command::new("gpg")
        .args(["--armor", "--export", "forge@example.com"])
        .env("GNUPGHOME", home.path()));
    assert_success(&key, "gpg --export");
    let db = tempfile::tempdir().unwrap();
    let key_file = db.path().join("key.asc");
    std::fs::write(&key_file, &key.stdout).unwrap();
    let rpmdb = db.path().join("rpmdb");
    std::fs::create_dir(&rpmdb).unwrap();
    let verify = |args: &[&str]| {
        run(Command::new("rpmkeys")
            .arg("--dbpath")
            .arg(&rpmdb)
            .args(args)
            .arg(signed))
    };
    // Before the key is known the signature cannot be checked.
    let before = verify(&["-K"]);
    assert!(!before.status.success(), "{}", stdout(&before));
    let import = run(Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(&rpmdb)
        .arg("--import")
        .arg(&key_file));
    assert_success(&import, "rpmkeys --import");
    let after = verify(&["-K"]);
    assert_success(&after, "rpm -K with the key");
    assert!(
        stdout(&after).contains("signatures OK"),
        "{}",
        stdout(&after)
    );
}

/// `--dry-run --message-format json` prints the plan (packages, outputs, the build) and writes
/// nothing.
#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let fx = Fixture::copy("cli-tool");
    let out = forge_rpm(
        &fx,
        &[
            "--dry-run",
            "--message-format",
            "json",
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
        ],
        &[],
    );
    assert_success(&out, "dry run");
    let plan = crate::json::document(&out, "cargo-forge/rpm-plan/v1");
    let job = &plan["packages"][0];
    assert_eq!(job["name"], "forge-fixture-cli");
    assert_eq!(job["arch"], "aarch64");
    assert_eq!(job["release"], "1");
    assert!(job["output"]
        .as_str()
        .unwrap()
        .ends_with("target/generate-rpm/forge-fixture-cli-0.1.0-1.aarch64.rpm"));
    assert!(job["generate_rpm"].is_null(), "derived from the deb table");
    assert!(
        !fx.path().join("target").exists(),
        "a dry run must not build or write"
    );
}

//! `cargo forge-deb` end to end: cross packages that run under qemu, lintian, cargo-deb parity,
//! reproducibility, JSON/dry-run, signing and the install test.

use std::path::Path;
use std::process::Command;

use forge_tests::*;

const ARM64: &str = "aarch64-unknown-linux-gnu";
const AMD64: &str = "x86_64-unknown-linux-gnu";

/// The tools the cross tests need.
fn cross_tools() -> bool {
    require_tools(&[
        "/usr/bin/cargo",
        "/usr/lib/rustlib/aarch64-unknown-linux-gnu",
        "aarch64-linux-gnu-gcc",
        "qemu-aarch64",
        "dpkg-shlibdeps",
        "lintian",
    ])
}

/// (fixture, [(package, binary)])
const FIXTURES: &[(&str, &[(&str, &str)])] = &[
    ("cli-tool", &[("forge-fixture-cli", "forge-fixture-cli")]),
    (
        "two-bins-workspace",
        &[
            ("forge-fixture-alpha", "forge-fixture-alpha"),
            ("forge-fixture-beta", "forge-fixture-beta"),
        ],
    ),
    (
        "sys-linked",
        &[("forge-fixture-zlib", "forge-fixture-zlib")],
    ),
];

fn run_binary(bin: &Path, arm64: bool) -> std::process::Output {
    if arm64 {
        run(Command::new("qemu-aarch64")
            .arg("-L")
            .arg("/usr/aarch64-linux-gnu")
            .arg(bin)
            .arg("--version"))
    } else {
        run(Command::new(bin).arg("--version"))
    }
}

/// Every fixture, amd64 and arm64 in one run: right architecture, binaries run (arm64 under
/// qemu), lintian reports no error (`--lint` fails on errors, and lintian is re-run here).
#[test]
fn cross_packages_for_every_fixture_run_and_lint_clean() {
    if !cross_tools() {
        return;
    }
    for (fixture, packages) in FIXTURES {
        let fx = Fixture::copy(fixture);
        let out = fx.forge_deb(&[
            "--workspace",
            "--target",
            AMD64,
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
            "--lint",
        ]);
        assert_success(&out, &format!("forge-deb on {fixture}"));
        let printed: Vec<String> = stdout(&out)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        let debs = fx.debs();
        assert_eq!(debs.len(), packages.len() * 2, "{fixture}: {debs:?}");
        for deb in &debs {
            assert!(
                printed.contains(&deb.display().to_string()),
                "stdout must list {}: {printed:?}",
                deb.display()
            );
        }
        for (pkg, binary) in *packages {
            for (arch, arm64) in [("amd64", false), ("arm64", true)] {
                let deb = debs.iter().find(|d| {
                    let n = d.file_name().unwrap().to_string_lossy().into_owned();
                    n.starts_with(&format!("{pkg}_")) && n.ends_with(&format!("_{arch}.deb"))
                });
                let deb =
                    deb.unwrap_or_else(|| panic!("{fixture}: no {pkg} {arch} package in {debs:?}"));
                let control = deb_control(deb).unwrap();
                assert_eq!(control["Architecture"], arch);
                assert_eq!(control["Package"], *pkg);
                let scratch = tempfile::tempdir().unwrap();
                let exe = extract_to(deb, &format!("usr/bin/{binary}"), scratch.path()).unwrap();
                let ran = run_binary(&exe, arm64);
                assert_success(&ran, &format!("{binary} --version ({arch})"));
                assert!(stdout(&ran).starts_with(binary), "{}", stdout(&ran));
                // lintian again, directly: zero errors.
                let lint = run(Command::new("lintian")
                    .args(["--tag-display-limit", "0"])
                    .arg(deb));
                let errors: Vec<&str> = stdout(&lint)
                    .lines()
                    .filter(|l| l.starts_with("E:"))
                    .map(|_| "")
                    .collect();
                assert!(
                    errors.is_empty(),
                    "lintian errors on {}:\n{}",
                    deb.display(),
                    stdout(&lint)
                );
                // Improvements present: md5sums, changelog, DEP-5 copyright.
                assert!(deb_control_members(deb)
                    .unwrap()
                    .contains(&"md5sums".to_string()));
                let files = deb_files(deb).unwrap();
                assert!(
                    files.iter().any(|f| f.ends_with("/changelog.Debian.gz")),
                    "{files:?}"
                );
                let copyright = String::from_utf8(
                    deb_file(deb, &format!("usr/share/doc/{pkg}/copyright")).unwrap(),
                )
                .unwrap();
                assert!(copyright.contains("\nFiles: *\n"), "{copyright}");
            }
        }
    }
}

/// The C-linked fixture's `Depends` names zlib with a version, for both architectures.
#[test]
fn auto_depends_resolve_when_cross_compiling() {
    if !cross_tools() {
        return;
    }
    let fx = Fixture::copy("sys-linked");
    let out = fx.forge_deb(&[
        "--target",
        AMD64,
        "--target",
        ARM64,
        "--toolchain",
        "/usr",
        "--runner",
        "qemu",
    ]);
    assert_success(&out, "forge-deb sys-linked");
    // `--runner qemu` ran both binaries before packaging (arm64 through qemu-user).
    for arch in ["amd64", "arm64"] {
        assert!(
            stderr(&out).contains(&format!("({arch}): forge-fixture-zlib 0.1.0")),
            "{}",
            stderr(&out)
        );
    }
    for deb in fx.debs() {
        let depends = &deb_control(&deb).unwrap()["Depends"];
        assert!(
            depends.contains("zlib1g (>= "),
            "{}: Depends: {depends}",
            deb.display()
        );
        assert!(
            depends.contains("libc6 (>= "),
            "{}: Depends: {depends}",
            deb.display()
        );
    }
}

/// The CLI fixture's systemd unit, conffile and maintainer scripts.
#[test]
fn systemd_units_conffiles_and_scripts() {
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    assert_success(&fx.forge_deb(&[]), "forge-deb cli-tool");
    let deb = &fx.debs()[0];
    let files = deb_files(deb).unwrap();
    assert!(
        files.contains(&"usr/lib/systemd/system/forge-fixture-cli.service".to_string()),
        "{files:?}"
    );
    assert!(
        files.contains(&"usr/share/man/man1/forge-fixture-cli.1.gz".to_string()),
        "{files:?}"
    );
    let members = deb_control_members(deb).unwrap();
    for m in ["conffiles", "md5sums", "postinst", "prerm", "postrm"] {
        assert!(members.contains(&m.to_string()), "{m} missing: {members:?}");
    }
    let tar = deb_tar(deb, "control.tar").unwrap();
    let entries = tar_entries(&tar).unwrap();
    let get = |n: &str| {
        String::from_utf8(
            entries
                .iter()
                .find(|e| e.path.ends_with(n))
                .unwrap()
                .data
                .clone(),
        )
        .unwrap()
    };
    assert_eq!(get("conffiles"), "/etc/forge-fixture-cli/config.toml\n");
    // enable = false: the unit is not enabled on install, but cleaned up on purge.
    let postinst = get("postinst");
    assert!(
        postinst.contains("deb-systemd-helper debian-installed 'forge-fixture-cli.service'"),
        "{postinst}"
    );
    assert!(get("postrm").contains("deb-systemd-helper purge 'forge-fixture-cli.service'"));
    // md5sums lists the binary but not the conffile.
    let md5 = get("md5sums");
    assert!(
        md5.contains("  usr/bin/forge-fixture-cli\n") && !md5.contains("etc/"),
        "{md5}"
    );
    // The variant packages only the binary.
    assert_success(
        &fx.forge_deb(&["--variant", "minimal", "--no-build"]),
        "variant",
    );
    let v = fx
        .debs()
        .into_iter()
        .find(|d| d.to_string_lossy().contains("minimal"))
        .expect("variant deb");
    let files = deb_files(&v).unwrap();
    assert!(
        files.contains(&"usr/bin/forge-fixture-cli".to_string())
            && !files.iter().any(|f| f.starts_with("etc/")),
        "{files:?}"
    );
}

/// Files and control fields equal cargo-deb 3.8's, except the documented improvements
/// (docs/src/deb.md "Differences from cargo-deb").
#[test]
fn matches_cargo_deb_except_documented_improvements() {
    let cargo_deb = std::env::var("FORGE_CARGO_DEB")
        .ok()
        .filter(|p| Path::new(p).is_file())
        .or_else(|| which("cargo-deb").map(|p| p.display().to_string()));
    let Some(cargo_deb) = cargo_deb else {
        require_tools(&["cargo-deb"]);
        return;
    };
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let version = stdout(&run(Command::new(&cargo_deb).arg("--version")));
    assert!(
        version.contains("3.8"),
        "the comparison is against cargo-deb 3.8, found {version}"
    );
    for (fixture, packages) in FIXTURES {
        for (pkg, _) in *packages {
            let ours_fx = Fixture::copy(fixture);
            let theirs_fx = Fixture::copy(fixture);
            assert_success(
                &ours_fx.forge_deb(&["-p", pkg]),
                &format!("forge-deb {fixture}/{pkg}"),
            );
            let out = run(Command::new(&cargo_deb)
                .args(["deb", "-p", pkg])
                .current_dir(theirs_fx.path()));
            assert_success(&out, &format!("cargo deb {fixture}/{pkg}"));
            let ours = &ours_fx.debs()[0];
            let theirs = &theirs_fx.debs()[0];
            assert_eq!(ours.file_name(), theirs.file_name(), "same file name");
            let of = deb_files(ours).unwrap();
            let tf = deb_files(theirs).unwrap();
            for f in &tf {
                assert!(
                    of.contains(f),
                    "{fixture}/{pkg}: cargo-deb ships {f}, we do not ({of:?})"
                );
            }
            for f in of.iter().filter(|f| !tf.contains(f)) {
                assert!(
                    f.ends_with("/changelog.Debian.gz"),
                    "{fixture}/{pkg}: extra file {f} is not a documented improvement"
                );
            }
            let oc = deb_control(ours).unwrap();
            let tc = deb_control(theirs).unwrap();
            for field in [
                "Package",
                "Version",
                "Architecture",
                "Priority",
                "Maintainer",
                "Homepage",
                "Depends",
                "Conflicts",
                "Provides",
                "Recommends",
            ] {
                assert_eq!(
                    oc.get(field),
                    tc.get(field),
                    "{fixture}/{pkg}: field {field}"
                );
            }
            if let Some(section) = tc.get("Section") {
                assert_eq!(oc.get("Section"), Some(section), "{fixture}/{pkg}: Section");
            } else {
                assert_eq!(
                    oc.get("Section").map(String::as_str),
                    Some("utils"),
                    "documented default Section"
                );
            }
            let first_line = |d: &String| d.lines().next().unwrap_or("").to_string();
            assert_eq!(
                first_line(&oc["Description"]),
                first_line(&tc["Description"]),
                "{fixture}/{pkg}: synopsis"
            );
            assert!(
                oc["Description"].lines().count() > 1,
                "we always have an extended description"
            );
            let mut om = deb_control_members(ours).unwrap();
            let mut tm = deb_control_members(theirs).unwrap();
            om.retain(|m| m != "md5sums");
            om.sort();
            tm.sort();
            assert_eq!(
                om, tm,
                "{fixture}/{pkg}: control members other than md5sums"
            );
        }
    }
}

/// Two runs in different directories at different times with one SOURCE_DATE_EPOCH give
/// byte-identical packages.
#[test]
fn reproducible_with_source_date_epoch() {
    if !cross_tools() {
        return;
    }
    let mut digests = Vec::new();
    for _ in 0..2 {
        let fx = Fixture::copy("cli-tool");
        let mut cmd = Command::new(bin("cargo-forge-deb"));
        cmd.args([
            "forge-deb",
            "--target",
            AMD64,
            "--target",
            ARM64,
            "--toolchain",
            "/usr",
        ])
        .current_dir(fx.path())
        .env("SOURCE_DATE_EPOCH", "1700000000");
        assert_success(&run(&mut cmd), "forge-deb");
        let debs = fx.debs();
        for d in &debs {
            for e in tar_entries(&deb_tar(d, "data.tar").unwrap()).unwrap() {
                assert_eq!(e.mtime, 1_700_000_000, "{}", e.path);
                assert_eq!(e.uid, 0, "{}", e.path);
            }
        }
        digests.push(
            debs.iter()
                .map(|d| (d.file_name().unwrap().to_owned(), sha256_file(d)))
                .collect::<Vec<_>>(),
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(digests[0], digests[1]);
}

/// `--dry-run --message-format json` prints the plan and writes nothing; a real run with JSON
/// prints the packages with their digests.
#[test]
fn dry_run_and_json() {
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    let out = fx.forge_deb(&["--dry-run", "--message-format", "json", "--target", AMD64]);
    assert_success(&out, "dry run");
    let plan = crate::json::document(&out, "cargo-forge/deb-plan/v1");
    assert_eq!(plan["packages"][0]["name"], "forge-fixture-cli");
    assert!(plan["build"]["steps"][0]["command"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "--target"));
    assert!(
        !fx.path().join("target").exists(),
        "a dry run must not build or write"
    );

    let out = fx.forge_deb(&["--message-format", "json"]);
    assert_success(&out, "json run");
    let v = crate::json::document(&out, "cargo-forge/deb-packages/v1");
    let p = &v["packages"][0];
    assert_eq!(
        p["sha256"].as_str().unwrap(),
        sha256_file(Path::new(p["path"].as_str().unwrap()))
    );
}

/// `--sign-key ID` (`--sign` for gpg's default key; the old `--sign --key ID` in
/// `release_faults`): a `_gpgorigin` member that gpg verifies. `--maintainer` and `--section`
/// override their control fields, as in cargo-deb.
#[test]
fn signed_packages_verify() {
    if !require_tools(&["gpg", "dpkg-shlibdeps"]) {
        return;
    }
    let home = gpg_home("Forge Test <forge@example.com>");
    let fx = Fixture::copy("cli-tool");
    let mut cmd = Command::new(bin("cargo-forge-deb"));
    cmd.args([
        "forge-deb",
        "--sign-key",
        "forge@example.com",
        "--maintainer",
        "Jane Doe <jane@example.com>",
        "--section",
        "net",
    ])
    .current_dir(fx.path())
    .env("GNUPGHOME", home.path());
    assert_success(&run(&mut cmd), "forge-deb --sign-key");
    let deb = &fx.debs()[0];
    let control = deb_control(deb).unwrap();
    assert_eq!(control["Maintainer"], "Jane Doe <jane@example.com>");
    assert_eq!(control["Section"], "net");
    let members = ar_members(deb).unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names.last(), Some(&"_gpgorigin"), "{names:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut signed = Vec::new();
    for (n, b) in &members[..3] {
        assert!(n == "debian-binary" || n.starts_with("control.tar") || n.starts_with("data.tar"));
        signed.extend_from_slice(b);
    }
    std::fs::write(dir.path().join("content"), &signed).unwrap();
    std::fs::write(dir.path().join("sig"), &members[3].1).unwrap();
    let verify = run(Command::new("gpg")
        .arg("--verify")
        .arg(dir.path().join("sig"))
        .arg(dir.path().join("content"))
        .env("GNUPGHOME", home.path()));
    assert_success(&verify, "gpg --verify");
    // dpkg still reads it.
    assert_success(
        &run(Command::new("dpkg-deb").arg("-I").arg(deb)),
        "dpkg-deb -I on a signed package",
    );
}

/// `--install-test` installs the packages in a clean bookworm root (arm64 under qemu), runs
/// their binaries and purges them.
#[test]
fn install_test_in_clean_roots() {
    if !cross_tools() || !require_tools(&["debootstrap", "chroot"]) {
        return;
    }
    if std::env::var_os("FORGE_SKIP_INSTALL_TEST").is_some() {
        eprintln!("note: FORGE_SKIP_INSTALL_TEST is set");
        return;
    }
    let fx = Fixture::copy("sys-linked");
    let out = fx.forge_deb(&[
        "--target",
        AMD64,
        "--target",
        ARM64,
        "--toolchain",
        "/usr",
        "--install-test",
    ]);
    assert_success(&out, "forge-deb --install-test");
    let err = stderr(&out);
    assert!(err.matches("Purged").count() >= 2, "{err}");
}

/// `dbgsym = true`: stripped binaries linked to their debug info, which ships in a
/// `-dbgsym` `.ddeb` by build-id; `separate-debug-symbols` alone keeps it in the package.
#[test]
fn debug_symbols_are_split() {
    if !require_tools(&["dpkg-shlibdeps", "objcopy", "readelf"]) {
        return;
    }
    for (key, ddeb) in [
        ("dbgsym = true", true),
        ("separate-debug-symbols = true", false),
    ] {
        let fx = Fixture::copy("sys-linked");
        fx.edit_manifest(
            "[package.metadata.deb]",
            &format!("[package.metadata.deb]\n{key}"),
        );
        let out = fx.forge_deb(&[]);
        assert_success(&out, key);
        let deb = &fx.debs()[0];
        let files = deb_files(deb).unwrap();
        let debug_in_main = files
            .iter()
            .any(|f| f.starts_with("usr/lib/debug/.build-id/") && f.ends_with(".debug"));
        assert_eq!(debug_in_main, !ddeb, "{key}: {files:?}");
        let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
        if ddeb {
            assert_eq!(lines.len(), 2, "{lines:?}");
            let d = Path::new(&lines[0]);
            assert!(lines[0].ends_with(".ddeb"), "{lines:?}");
            let c = deb_control(d).unwrap();
            assert_eq!(c["Package"], "forge-fixture-zlib-dbgsym");
            assert_eq!(c["Auto-Built-Package"], "debug-symbols");
            assert!(deb_files(d)
                .unwrap()
                .iter()
                .any(|f| f.starts_with("usr/lib/debug/.build-id/")));
        }
        let scratch = tempfile::tempdir().unwrap();
        let exe = extract_to(deb, "usr/bin/forge-fixture-zlib", scratch.path()).unwrap();
        let sections = stdout(&run(Command::new("readelf").arg("-S").arg(&exe)));
        assert!(
            sections.contains(".gnu_debuglink") && !sections.contains(".debug_info"),
            "{sections}"
        );
    }
}

/// The zigbuild backend with a glibc floor: the arm64 binary asks for no newer glibc symbol than
/// the floor, and runs.
#[test]
fn zigbuild_backend_with_glibc_floor() {
    if !cross_tools() || !require_tools(&["cargo-zigbuild", "aarch64-linux-gnu-objdump"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    let out = fx.forge_deb(&[
        "--target",
        ARM64,
        "--toolchain",
        "/usr",
        "--backend",
        "zigbuild",
        "--glibc",
        "2.28",
    ]);
    assert_success(&out, "forge-deb --backend zigbuild");
    assert!(stderr(&out).contains("with zigbuild"), "{}", stderr(&out));
    let deb = &fx.debs()[0];
    let scratch = tempfile::tempdir().unwrap();
    let exe = extract_to(deb, "usr/bin/forge-fixture-cli", scratch.path()).unwrap();
    let syms = stdout(&run(Command::new("aarch64-linux-gnu-objdump")
        .arg("-T")
        .arg(&exe)));
    let mut versions: Vec<(u32, u32)> = syms
        .split("GLIBC_")
        .skip(1)
        .filter_map(|s| {
            let v: String = s
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut it = v.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
            Some((it.next()?, it.next().unwrap_or(0)))
        })
        .collect();
    versions.sort();
    assert!(
        versions.last().is_some_and(|v| *v <= (2, 28)),
        "newest GLIBC symbol {versions:?}"
    );
    assert_success(&run_binary(&exe, true), "zigbuilt binary under qemu");
    // Debian's symbols files would ask for bookworm's libc6 (2.34 for `sysconf`); the package
    // asks for what the binary references, so it installs where the floor says it runs.
    assert_libc6_at_most(deb, (2, 28));

    // A host build with a floor: `auto` picks zigbuild, builds for `<host>.2.28`, and packages
    // that binary (not a stale `target/release` one).
    let fx = Fixture::copy("cli-tool");
    assert_success(&fx.forge_deb(&[]), "plain host build first");
    let out = fx.forge_deb(&["--glibc", "2.28", "-v"]);
    assert_success(&out, "forge-deb --glibc 2.28");
    assert!(
        stderr(&out).contains("--target x86_64-unknown-linux-gnu.2.28"),
        "{}",
        stderr(&out)
    );
    assert_libc6_at_most(&fx.debs()[0], (2, 28));
}

/// The `libc6 (>= V)` of a package's `Depends`, checked to be at most `max`.
fn assert_libc6_at_most(deb: &std::path::Path, max: (u32, u32)) {
    let control = deb_control(deb).unwrap();
    let depends = control.get("Depends").cloned().unwrap_or_default();
    let v = depends
        .split(',')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("libc6 (>= ")?.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no versioned libc6 in `{depends}`"));
    let mut it = v.split('.').map(|n| n.parse::<u32>().unwrap());
    let have = (it.next().unwrap(), it.next().unwrap_or(0));
    assert!(
        have <= max,
        "`{depends}` asks for a newer libc6 than {max:?}"
    );
}

/// A second run with nothing changed reuses the package ("Fresh"); changing an asset rebuilds it.
#[test]
fn unchanged_inputs_are_fresh() {
    if !require_tools(&["dpkg-shlibdeps"]) {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    assert_success(&fx.forge_deb(&[]), "first run");
    let deb = fx.debs()[0].clone();
    let digest = sha256_file(&deb);
    let out = fx.forge_deb(&[]);
    assert_success(&out, "second run");
    assert!(stderr(&out).contains("Fresh"), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), deb.display().to_string());
    assert_eq!(sha256_file(&deb), digest);
    std::fs::write(
        fx.path().join("conf/config.toml"),
        "greeting = \"changed\"\n",
    )
    .unwrap();
    let out = fx.forge_deb(&[]);
    assert_success(&out, "third run");
    assert!(
        !stderr(&out).contains("Fresh") && stderr(&out).contains("Packaged"),
        "{}",
        stderr(&out)
    );
    assert_ne!(sha256_file(&deb), digest);
}

/// Beyond cargo-deb (its issues #153 and #17): a timer + service pair where `units` names only
/// the timer, and a user unit, installed with `--install-test` in a clean bookworm root. The
/// timer is enabled (the install test reports its `timers.target.wants` symlink), the service it
/// triggers is not, the user unit is enabled for every user (`/etc/systemd/user/…`); purge
/// leaves no symlink (the install test checks); lintian reports no error (`--lint`).
#[test]
fn timer_pair_and_user_unit_enabled_in_clean_root() {
    if !require_tools(&["dpkg-shlibdeps", "lintian", "debootstrap", "chroot"]) {
        return;
    }
    if std::env::var_os("FORGE_SKIP_INSTALL_TEST").is_some() {
        eprintln!("note: FORGE_SKIP_INSTALL_TEST is set");
        return;
    }
    let fx = Fixture::copy("cli-tool");
    fx.edit_manifest(
        "systemd-units = { unit-name = \"forge-fixture-cli\", enable = false }",
        "systemd-units = [\n    { unit-name = \"forge-fixture-cli\", enable = false },\n    { unit-name = \"forge-fixture-cli-report\", units = [\"forge-fixture-cli-report.timer\"] },\n    { unit-name = \"forge-fixture-cli-agent\", user = true },\n]",
    );
    let debian = fx.path().join("debian");
    std::fs::write(
        debian.join("forge-fixture-cli-report.service"),
        "[Unit]\nDescription=Forge fixture report\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/forge-fixture-cli --version\n",
    )
    .unwrap();
    std::fs::write(
        debian.join("forge-fixture-cli-report.timer"),
        "[Unit]\nDescription=Daily forge fixture report\n\n[Timer]\nOnCalendar=daily\n\n[Install]\nWantedBy=timers.target\n",
    )
    .unwrap();
    std::fs::write(
        debian.join("forge-fixture-cli-agent.user.service"),
        "[Unit]\nDescription=Forge fixture agent\n\n[Service]\nExecStart=/usr/bin/forge-fixture-cli --version\n\n[Install]\nWantedBy=default.target\n",
    )
    .unwrap();
    let out = fx.forge_deb(&["--lint", "--install-test"]);
    assert_success(&out, "forge-deb --lint --install-test");
    let err = stderr(&out);
    let deb = &fx.debs()[0];
    let files = deb_files(deb).unwrap();
    for f in [
        "usr/lib/systemd/system/forge-fixture-cli-report.service",
        "usr/lib/systemd/system/forge-fixture-cli-report.timer",
        "usr/lib/systemd/user/forge-fixture-cli-agent.service",
    ] {
        assert!(files.contains(&f.to_string()), "{f}: {files:?}");
    }
    let enabled = err
        .lines()
        .find(|l| l.trim_start().starts_with("Enabled"))
        .unwrap_or_else(|| panic!("no Enabled line: {err}"));
    assert!(
        enabled.contains("forge-fixture-cli-report.timer (timers.target.wants)"),
        "{enabled}"
    );
    assert!(
        enabled.contains("forge-fixture-cli-agent.service (user, default.target.wants)"),
        "{enabled}"
    );
    assert!(
        !enabled.contains("forge-fixture-cli-report.service"),
        "{enabled}"
    );
    // enable = false for the fixture's own daemon: not enabled either.
    assert!(!enabled.contains("forge-fixture-cli.service"), "{enabled}");
    assert!(err.contains("Purged"), "{err}");
}

//! Unit tests of the install test: mirrors, binfmt, mounts, units, failures.

#![allow(clippy::print_stderr)]

use super::*;

#[test]
fn mirrors_from_sources() {
    let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
    assert_eq!(
        mirror_from_deb822(deb822).as_deref(),
        Some("http://deb.debian.org/debian")
    );
    let only_security =
        "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\n";
    assert_eq!(mirror_from_deb822(only_security), None);
    let disabled = "Enabled: no\nTypes: deb\nURIs: http://a/debian\nSuites: bookworm\n";
    assert_eq!(mirror_from_deb822(disabled), None);
    let list = "# comment\ndeb-src http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n";
    assert_eq!(
        mirror_from_list(list).as_deref(),
        Some("http://mirror.example/debian")
    );
    assert_eq!(mirror_from_list("deb file:/srv/repo ./\n"), None);
}

#[test]
fn binfmt_entries() {
    let text = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c46\n";
    let b = Binfmt::parse("qemu-aarch64", text);
    assert!(b.enabled && b.fix_binary());
    assert_eq!(
        b.interpreter,
        Path::new("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
    );
    let b = Binfmt::parse(
        "qemu-arm",
        "disabled\ninterpreter /usr/bin/qemu-arm-static\nflags: \n",
    );
    assert!(!b.enabled && !b.fix_binary());
}

#[test]
fn mountinfo_escapes() {
    assert_eq!(unescape_mountinfo("/tmp/a\\040b"), "/tmp/a b");
    assert_eq!(unescape_mountinfo("/plain"), "/plain");
}

#[test]
fn binaries_are_found_in_program_dirs() {
    let files: Vec<String> = [
        "/usr/share/doc/app/app",
        "/usr/lib/app/bin/app",
        "/usr/bin/app",
        "/usr/sbin/appd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(find_binary(&files, "app").as_deref(), Some("/usr/bin/app"));
    assert_eq!(
        find_binary(&files, "appd").as_deref(),
        Some("/usr/sbin/appd")
    );
    assert_eq!(find_binary(&files, "nope"), None);
}

#[test]
fn wrong_architecture_is_a_usage_error() {
    if !forge_core::process::exists("dpkg-deb") {
        eprintln!("skipping: dpkg-deb is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let deb = e2e::script_deb(tmp.path(), "forge-wrong", "arm64", "#!/bin/sh\necho x\n");
    let t = InstallTest {
        deb,
        arch: "amd64".into(),
        target: forge_core::target::lookup("x86_64-unknown-linux-gnu").unwrap(),
        binaries: vec![],
        cache_dir: tmp.path().join("roots"),
        command: None,
        timeout: 120,
    };
    let e = run(&t, &Shell::plain()).unwrap_err();
    assert!(
        format!("{e:#}").contains("is a package for `arm64`, not `amd64`"),
        "{e:#}"
    );
    assert_eq!(forge_core::exit::code_of(&e), 2);
}

/// Real runs: debootstrap (network, a few minutes the first time), chroot, apt. Only with
/// `FORGE_E2E=1`, as root.
mod e2e {
    use super::*;

    /// The end-to-end tests run one at a time: they are heavy, and they check that no mount
    /// is left under the shared cache, which a parallel test would have.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    pub(super) fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn enabled(what: &str) -> bool {
        if std::env::var("FORGE_E2E").as_deref() != Ok("1") {
            eprintln!("skipping {what}: set FORGE_E2E=1 to run install tests for real (needs root, debootstrap and network)");
            return false;
        }
        if require_root().is_err() {
            eprintln!("skipping {what}: not running as root");
            return false;
        }
        for tool in ["debootstrap", "dpkg-deb", "chroot"] {
            if !forge_core::process::exists(tool) && !Path::new("/usr/sbin").join(tool).exists() {
                eprintln!("skipping {what}: `{tool}` is not installed");
                return false;
            }
        }
        true
    }

    /// The cache of clean roots for these tests: the checkout's own (`target/forge-test-roots`,
    /// kept between runs), so that their checks of leftovers and mounts see only their own
    /// work, not that of a `--install-test` another checkout runs at the same time.
    ///
    /// A fresh checkout seeds it, once per run, with copies of the roots `--install-test`
    /// already built in the user's cache (`FORGE_ROOTS_CACHE`, else `~/.cache/cargo-forge/roots`;
    /// the end-to-end tests use that one): building the amd64 and arm64 roots took 4½ of
    /// these tests' 5¾ minutes on a fresh clone, copying them takes seconds. Where the user's
    /// cache has no root, the tests build it with debootstrap as before (a new machine, or
    /// `FORGE_ROOTS_CACHE` pointed at an empty directory).
    pub(super) fn cache_dir() -> PathBuf {
        static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        DIR.get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/forge-test-roots");
            fs::create_dir_all(&dir).unwrap();
            let shared = crate::ops::execute::roots_cache_dir(&dir);
            let arches = [host_dpkg_arch().unwrap(), "arm64".to_string()];
            for arch in arches {
                seed_root(&shared, &dir, &format!("{SUITE}-{arch}-minbase"));
            }
            dir
        })
        .clone()
    }

    /// Copies the complete root `name` from `shared` into `own` when `own` has none.
    fn seed_root(shared: &Path, own: &Path, name: &str) {
        let from = shared.join(name);
        let to = own.join(name);
        if shared == own || to.exists() || !from.join(STAMP).is_file() {
            return;
        }
        let scratch = tempfile::Builder::new()
            .prefix(".seed-")
            .tempdir_in(own)
            .unwrap();
        let copy = scratch.path().join(name);
        Cmd::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(&from)
            .arg(&copy)
            .output(&Shell::plain())
            .unwrap();
        fs::rename(&copy, &to).unwrap();
        eprintln!("seeded `{}` from `{}`", to.display(), from.display());
    }

    fn control(name: &str, arch: &str, depends: Option<&str>) -> String {
        let mut c = format!(
            "Package: {name}\nVersion: 1.0-1\nArchitecture: {arch}\nMaintainer: Test <t@example.com>\n"
        );
        if let Some(d) = depends {
            c.push_str(&format!("Depends: {d}\n"));
        }
        c.push_str(&format!("Description: install test package {name}\n"));
        c
    }

    fn build(
        dir: &Path,
        name: &str,
        arch: &str,
        control_text: &str,
        files: &[(&str, Vec<u8>, u32)],
    ) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let root = dir.join(format!("{name}-{arch}"));
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        fs::write(root.join("DEBIAN/control"), control_text).unwrap();
        for (path, bytes, mode) in files {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, bytes).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
        }
        let deb = dir.join(format!("{name}_1.0-1_{arch}.deb"));
        Cmd::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(&deb)
            .output(&Shell::plain())
            .unwrap();
        deb
    }

    /// A package with one shell script as `/usr/bin/<name>` and a doc file.
    pub(super) fn script_deb(dir: &Path, name: &str, arch: &str, script: &str) -> PathBuf {
        build(
            dir,
            name,
            arch,
            &control(name, arch, None),
            &[
                (
                    &format!("usr/bin/{name}"),
                    script.as_bytes().to_vec(),
                    0o755,
                ),
                (
                    &format!("usr/share/doc/{name}/README"),
                    b"test\n".to_vec(),
                    0o644,
                ),
            ],
        )
    }

    fn test_for(deb: PathBuf, arch: &str, bins: &[&str]) -> InstallTest {
        let triple = forge_core::target::triple_for_dpkg_arch(arch).unwrap();
        InstallTest {
            deb,
            arch: arch.to_string(),
            target: forge_core::target::lookup(triple).unwrap(),
            binaries: bins.iter().map(|s| s.to_string()).collect(),
            cache_dir: cache_dir(),
            command: None,
            timeout: 120,
        }
    }

    #[test]
    fn native_script_package_installs_runs_and_purges() {
        if !enabled("the native install test") {
            return;
        }
        let _serial = serial();
        let shell = Shell::plain();
        let arch = host_dpkg_arch().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let deb = script_deb(
            tmp.path(),
            "forge-it-hello",
            &arch,
            "#!/bin/sh\necho \"forge-it-hello 1.0\"\n",
        );
        run(&test_for(deb, &arch, &["forge-it-hello"]), &shell).unwrap();
        // The cached root is stamped, pristine (the package is not in it), and no work
        // directory or mount is left behind.
        let cached = cache_dir().join(format!("bookworm-{arch}-minbase"));
        assert!(cached.join(STAMP).is_file());
        assert!(!cached.join("usr/bin/forge-it-hello").exists());
        assert!(mounts_under(&cache_dir()).is_empty());
        let leftovers: Vec<_> = fs::read_dir(cache_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".test-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn stale_work_dirs_are_unmounted_and_removed() {
        if !enabled("the stale work directory test") {
            return;
        }
        let _serial = serial();
        let shell = Shell::plain();
        let cache = tempfile::Builder::new()
            .prefix(".stale-test-")
            .tempdir_in(cache_dir())
            .unwrap();
        let old = cache.path().join(".test-killed.tmp");
        let young = cache.path().join(".test-running.tmp");
        fs::create_dir_all(young.join("root")).unwrap();
        let guard = ProcMount::mount(&old.join("root/proc"), &shell).unwrap();
        std::mem::forget(guard); // as if the run had been killed
        Cmd::new("touch")
            .args(["-d", "2 days ago"])
            .arg(&old)
            .output(&shell)
            .unwrap();
        assert_eq!(mounts_under(&old).len(), 1);
        clean_stale(cache.path(), &shell);
        assert!(!old.exists(), "the stale directory is removed");
        assert!(
            mounts_under(cache.path()).is_empty(),
            "and its mount undone"
        );
        assert!(young.exists(), "a recent one may belong to a running test");
    }

    #[test]
    fn native_failures_are_check_errors() {
        if !enabled("the native failure test") {
            return;
        }
        let _serial = serial();
        let shell = Shell::plain();
        let arch = host_dpkg_arch().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        // --version fails.
        let deb = script_deb(
            tmp.path(),
            "forge-it-broken",
            &arch,
            "#!/bin/sh\necho 'no such flag' >&2\nexit 3\n",
        );
        let e = run(&test_for(deb, &arch, &["forge-it-broken"]), &shell).unwrap_err();
        let msg = format!("{e:#}");
        assert_eq!(forge_core::exit::code_of(&e), 4, "{msg}");
        assert!(
            msg.contains("--version` failed") && msg.contains("no such flag"),
            "{msg}"
        );
        // A postinst that fails: apt-get install fails, with dpkg's words.
        let deb = build(
            tmp.path(),
            "forge-it-postinst",
            &arch,
            &control("forge-it-postinst", &arch, None),
            &[(
                "DEBIAN/postinst",
                b"#!/bin/sh\necho postinst-exploded >&2\nexit 1\n".to_vec(),
                0o755,
            )],
        );
        let e = run(&test_for(deb, &arch, &[]), &shell).unwrap_err();
        let msg = format!("{e:#}");
        assert_eq!(forge_core::exit::code_of(&e), 4, "{msg}");
        assert!(
            msg.contains("apt-get install") && msg.contains("postinst-exploded"),
            "{msg}"
        );
        // A program the package does not have.
        let deb = script_deb(tmp.path(), "forge-it-other", &arch, "#!/bin/sh\necho ok\n");
        let e = run(&test_for(deb, &arch, &["forge-it-missing"]), &shell).unwrap_err();
        assert!(
            format!("{e:#}").contains("installs no program `forge-it-missing`"),
            "{e:#}"
        );
        assert!(mounts_under(&cache_dir()).is_empty());
    }

    #[test]
    fn dependencies_outside_minbase_trigger_apt_update() {
        if !enabled("the dependency install test") {
            return;
        }
        let _serial = serial();
        let shell = Shell::plain();
        let arch = host_dpkg_arch().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        // `hello` is not in minbase, and without package lists apt cannot find it. The lists
        // debootstrap leaves are dropped from a private copy of the cached root (the shared
        // one may be being copied by a parallel test), so the `apt-get update` path runs.
        let test = test_for(PathBuf::new(), &arch, &[]);
        let shared = ensure_root(&test, None, &shell).unwrap();
        let own = tempfile::Builder::new()
            .prefix(".deps-roots-")
            .tempdir_in(cache_dir())
            .unwrap();
        let copy = own.path().join(shared.file_name().unwrap());
        Cmd::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(&shared)
            .arg(&copy)
            .output(&shell)
            .unwrap();
        for e in fs::read_dir(copy.join("var/lib/apt/lists"))
            .unwrap()
            .flatten()
        {
            if e.file_type().unwrap().is_file() {
                fs::remove_file(e.path()).unwrap();
            }
        }
        let deb = build(
            tmp.path(),
            "forge-it-deps",
            &arch,
            &control("forge-it-deps", &arch, Some("hello")),
            &[(
                "usr/bin/forge-it-deps",
                b"#!/bin/sh\nexec hello --version\n".to_vec(),
                0o755,
            )],
        );
        let mut t = test_for(deb, &arch, &["forge-it-deps"]);
        t.cache_dir = own.path().to_path_buf();
        run(&t, &shell).unwrap();
        assert!(mounts_under(own.path()).is_empty());
    }

    #[test]
    fn arm64_c_program_under_qemu() {
        if !enabled("the arm64 install test") {
            return;
        }
        let _serial = serial();
        let host = host_dpkg_arch().unwrap();
        if host == "arm64" {
            eprintln!("skipping the arm64 install test: arm64 is native here");
            return;
        }
        if let Err(e) = find_binfmt("arm64", "qemu-aarch64") {
            eprintln!("skipping the arm64 install test: {e:#}");
            return;
        }
        if !forge_core::process::exists("aarch64-linux-gnu-gcc") {
            eprintln!("skipping the arm64 install test: aarch64-linux-gnu-gcc is not installed");
            return;
        }
        let shell = Shell::plain();
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("hello.c");
        fs::write(
            &src,
            "#include <stdio.h>\n#include <string.h>\nint main(int c, char **v) {\n  if (c > 1 && !strcmp(v[1], \"--version\")) { printf(\"forge-it-arm 1.0 (aarch64)\\n\"); return 0; }\n  return 2;\n}\n",
        )
        .unwrap();
        let bin = tmp.path().join("forge-it-arm");
        Cmd::new("aarch64-linux-gnu-gcc")
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .output(&shell)
            .unwrap();
        let deb = build(
            tmp.path(),
            "forge-it-arm",
            "arm64",
            &control("forge-it-arm", "arm64", Some("libc6 (>= 2.34)")),
            &[("usr/bin/forge-it-arm", fs::read(&bin).unwrap(), 0o755)],
        );
        run(&test_for(deb, "arm64", &["forge-it-arm"]), &shell).unwrap();
        assert!(cache_dir()
            .join("bookworm-arm64-minbase")
            .join(STAMP)
            .is_file());
    }
}

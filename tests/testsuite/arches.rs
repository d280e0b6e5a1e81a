//! Every Debian architecture with a standard library (issue 12): armhf, i386 and ppc64el next to
//! amd64 and arm64. One small fixture (cli-tool), Debian's toolchain (`--toolchain /usr` with
//! `libstd-rust-web-dev:<arch>`), the clean roots of the install test cached between runs.

use std::process::Command;

use forge_tests::registry::Registry;
use forge_tests::*;

/// (Rust triple, dpkg arch, OCI platform, skopeo `--override-arch`, `--override-variant`)
const MORE: &[(&str, &str, &str, &str, Option<&str>)] = &[
    (
        "armv7-unknown-linux-gnueabihf",
        "armhf",
        "linux/arm/v7",
        "arm",
        Some("v7"),
    ),
    ("i686-unknown-linux-gnu", "i386", "linux/386", "386", None),
    (
        "powerpc64le-unknown-linux-gnu",
        "ppc64el",
        "linux/ppc64le",
        "ppc64le",
        None,
    ),
];

fn tools() -> bool {
    require_tools(&[
        "/usr/bin/cargo",
        "/usr/lib/rustlib/armv7-unknown-linux-gnueabihf",
        "/usr/lib/rustlib/i686-unknown-linux-gnu",
        "/usr/lib/rustlib/powerpc64le-unknown-linux-gnu",
        "arm-linux-gnueabihf-gcc",
        "i686-linux-gnu-gcc",
        "powerpc64le-linux-gnu-gcc",
        "qemu-arm",
        "qemu-i386",
        "qemu-ppc64le",
        "/proc/sys/fs/binfmt_misc/qemu-arm",
        "/proc/sys/fs/binfmt_misc/qemu-ppc64le",
        "lintian",
        "debootstrap",
    ])
}

/// armhf, i386 and ppc64el packages: built in one run, smoke-tested under qemu (`--runner`),
/// lintian-clean (`--lint`), installed, run and purged in a clean bookworm root of their own
/// architecture (`--install-test`); then the packaged binaries run here (binfmt).
#[test]
fn armhf_i386_ppc64el_packages_run_and_install() {
    if !tools() {
        return;
    }
    let fx = Fixture::copy("cli-tool");
    let mut args = vec![
        "--toolchain",
        "/usr",
        "--runner",
        "qemu",
        "--lint",
        "--install-test",
    ];
    for (triple, ..) in MORE {
        args.extend(["--target", triple]);
    }
    let out = fx.forge_deb(&args);
    assert_success(&out, "forge-deb for armhf, i386, ppc64el");
    let err = stderr(&out);
    for (_, arch, ..) in MORE {
        assert!(
            err.contains(&format!("({arch}): forge-fixture-cli 0.1.0")),
            "smoke test of {arch}:\n{err}"
        );
        assert!(
            err.contains(&format!("bookworm {arch} root")),
            "install test of {arch}:\n{err}"
        );
        let deb = fx.path().join(format!(
            "target/debian/forge-fixture-cli_0.1.0-1_{arch}.deb"
        ));
        let control = deb_control(&deb).unwrap();
        assert_eq!(control["Architecture"], *arch);
        assert!(control["Depends"].contains("libc6"), "{control:?}");
        let scratch = tempfile::tempdir().unwrap();
        let exe = extract_to(&deb, "usr/bin/forge-fixture-cli", scratch.path()).unwrap();
        let ran = run(Command::new(&exe).arg("--version"));
        assert_success(&ran, &format!("the {arch} binary through binfmt"));
        assert_eq!(stdout(&ran).trim(), "forge-fixture-cli 0.1.0");
    }
    assert_eq!(err.matches("Purged").count(), 3, "{err}");
}

/// One image for five platforms (amd64, arm64, arm/v7, 386, ppc64le): the index lists them all,
/// and every platform's image runs its program (through binfmt for the foreign ones).
#[test]
fn five_platform_image_every_platform_runs() {
    if !tools() || !require_tools(&["docker-registry", "skopeo", "umoci", "qemu-aarch64"]) {
        return;
    }
    let reg = Registry::start();
    let fx = Fixture::copy("cli-tool");
    let reference = format!("{}/fixtures/five:0.1.0", reg.host());
    let platforms = "linux/amd64,linux/arm64,linux/arm/v7,linux/386,linux/ppc64le";
    let out = run(Command::new(bin("cargo-forge-image"))
        .args([
            "forge-image",
            "--platform",
            platforms,
            "--toolchain",
            "/usr",
            "--tag",
            &reference,
            "--push",
        ])
        .current_dir(fx.path())
        .env("NO_COLOR", "1"));
    assert_success(&out, "forge-image for five platforms");
    let index = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{reference}")));
    assert_success(&index, "skopeo inspect");
    let index: serde_json::Value = serde_json::from_slice(&index.stdout).unwrap();
    let listed: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            match p["variant"].as_str() {
                Some(v) if p["architecture"] != "arm64" => format!(
                    "{}/{}/{v}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                _ => format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
            }
        })
        .collect();
    // The index lists the platforms in a canonical (sorted) order.
    let mut listed = listed;
    listed.sort();
    let mut wanted: Vec<&str> = platforms.split(',').collect();
    wanted.sort();
    assert_eq!(listed, wanted);
    let scratch = tempfile::tempdir().unwrap();
    let all = [("amd64", None), ("arm64", None)].into_iter().chain(
        MORE.iter()
            .map(|(_, _, _, arch, variant)| (*arch, *variant)),
    );
    for (arch, variant) in all {
        let layout = scratch.path().join(format!("layout-{arch}"));
        let mut copy = Command::new("skopeo");
        copy.args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--override-arch",
            arch,
        ]);
        if let Some(v) = variant {
            copy.args(["--override-variant", v]);
        }
        let out = run(copy
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:img", layout.display())));
        assert_success(&out, &format!("skopeo copy {arch}"));
        let bundle = scratch.path().join(format!("bundle-{arch}"));
        let out = run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:img", layout.display()))
            .arg(&bundle));
        assert_success(&out, &format!("umoci unpack {arch}"));
        // chroot runs the image's own program; the kernel hands foreign ones to qemu (binfmt).
        let ran = run(Command::new("chroot")
            .arg(bundle.join("rootfs"))
            .args(["/usr/local/bin/forge-fixture-cli", "--version"]));
        assert_success(&ran, &format!("the {arch} image"));
        assert_eq!(stdout(&ran).trim(), "forge-fixture-cli 0.1.0", "{arch}");
    }
}

//! `cargo forge-image --output qcow2:|raw:|vmdk:|ova:` end to end: the HTTP service fixture as a
//! VM disk image, checked with the tools users have (`qemu-img info`, `sfdisk --json`,
//! `e2fsck`, `debugfs`, mtools, `tar`), booted under qemu-system with software emulation
//! (`--boot-test`, once: UEFI, as the fixture's `boot-test.firmware` says; a boot takes minutes
//! under emulation, so one boot per run; the BIOS boot of the same hybrid image is recorded in
//! docs/src/vm.md) until the service answers on the forwarded port, and built twice with the same `SOURCE_DATE_EPOCH` to compare bytes.
//!
//! The mmdebstrap base is cached between runs and checkouts (`FORGE_VM_CACHE`) beside the other
//! test roots, in `~/.cache/cargo-forge/test-images/vm`, as docs/src/vm.md advises a CI to keep
//! `target/forge/vm/cache`: a fresh clone then builds no base (mmdebstrap, minutes). Bases are
//! named by the digest of their package set and moved into place whole, so checkouts can share
//! them. Building needs root (mmdebstrap, chroot).

use std::path::{Path, PathBuf};
use std::process::Command;

use forge_tests::*;

const SDE: &str = "1700000000";

fn vm_tools(boot: &[&str]) -> bool {
    let mut tools = vec![
        "mmdebstrap",
        "mformat",
        "mcopy",
        "mdir",
        "qemu-img",
        "syslinux",
        "/usr/sbin/sfdisk",
        "/usr/sbin/mkfs.ext4",
        "/usr/sbin/debugfs",
        "/usr/sbin/e2fsck",
    ];
    tools.extend(boot);
    if !require_tools(&tools) {
        return false;
    }
    if !is_root() {
        eprintln!("note: skipping, building VM images needs root (mmdebstrap, chroot)");
        return false;
    }
    true
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0
}

/// The base cache shared by the tests of every checkout (kept between runs).
fn cache_dir() -> PathBuf {
    let dir = forge_tests::docker::cache_dir().join("vm");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn forge_image(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("cargo-forge-image"));
    cmd.arg("forge-image")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", SDE)
        .env("FORGE_VM_CACHE", cache_dir());
    run(&mut cmd)
}

fn json_doc(out: &std::process::Output) -> serde_json::Value {
    crate::json::document(out, "cargo-forge/image/v1")
}

fn qemu_img_info(path: &Path) -> serde_json::Value {
    let out = run(Command::new("qemu-img")
        .args(["info", "--output", "json"])
        .arg(path));
    assert_success(&out, "qemu-img info");
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// `sfdisk --json` of a disk image: the GPT's partitions.
fn partitions(raw: &Path) -> Vec<serde_json::Value> {
    let out = run(Command::new("/usr/sbin/sfdisk").arg("--json").arg(raw));
    assert_success(&out, "sfdisk --json");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["partitiontable"]["label"], "gpt", "{v}");
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .clone()
}

/// A file of the root file system, read with debugfs (no mount).
fn root_file(raw: &Path, offset: u64, path: &str) -> String {
    let out = run(Command::new("/usr/sbin/debugfs")
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(format!("{}?offset={offset}", raw.display())));
    assert_success(&out, &format!("debugfs cat {path}"));
    stdout(&out)
}

/// The members of a tar, in order, with their sizes.
fn tar_members(path: &Path) -> Vec<(String, u64)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().size().unwrap(),
            )
        })
        .collect()
}

/// The value of `attr="…"` in the first element `<tag …>` of an XML text.
fn xml_attr(xml: &str, tag: &str, attr: &str) -> String {
    let start = xml
        .find(&format!("<{tag} "))
        .unwrap_or_else(|| panic!("no <{tag}> in the descriptor"));
    let element = &xml[start..start + xml[start..].find('>').unwrap()];
    let key = format!("{attr}=\"");
    let at = element
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in <{tag}>: {element}"));
    let rest = &element[at + key.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The amd64 image of the service fixture in every format: it boots under OVMF and the service
/// answers on the forwarded port; the formats are what `qemu-img`
/// says; the raw disk holds an ESP and a root partition that are valid file systems; the OVA
/// is descriptor, manifest, disk, with matching references; a second build with the same
/// SOURCE_DATE_EPOCH is byte-identical (raw, qcow2, VMDK, OVA), as docs/src/vm.md says.
#[test]
fn amd64_image_boots_and_serves_and_rebuilds_identically() {
    if !vm_tools(&["qemu-system-x86_64", "/usr/share/ovmf/OVMF.fd"]) {
        return;
    }
    let fx = Fixture::copy("http-service");
    let out = forge_image(
        fx.path(),
        &[
            "--output",
            "qcow2:out/app.qcow2",
            "--output",
            "raw:out/app.raw",
            "--output",
            "vmdk:out/app.vmdk",
            "--output",
            "ova:out/app.ova",
            "--boot-test",
            "--message-format",
            "json",
        ],
    );
    assert_success(&out, "forge-image --output qcow2:… --boot-test");
    let doc = json_doc(&out);
    let image = &doc["vm"]["images"][0];
    assert_eq!(image["arch"], "amd64", "{doc}");

    // Booted once (UEFI, `boot-test.firmware`); the service answered GET / with the host name
    // the configuration set.
    let boots = image["boot_tests"].as_array().unwrap();
    let firmwares: Vec<&str> = boots
        .iter()
        .map(|b| b["firmware"].as_str().unwrap())
        .collect();
    assert_eq!(firmwares, ["uefi"], "{doc}");
    for b in boots {
        let evidence = b["evidence"].as_str().unwrap();
        assert!(
            evidence.starts_with("HTTP/1.1 200 OK: forge-fixture-http 0.1.0 on forge-http"),
            "{b}"
        );
        assert!(b["seconds_to_service"].as_f64().unwrap() > 0.0, "{b}");
        // The figure docs/src/vm.md records (shown with `--nocapture`).
        eprintln!(
            "boot test: amd64 {} service up after {}s",
            b["firmware"], b["seconds_to_service"]
        );
    }
    let err = stderr(&out);
    assert!(
        err.contains("Booted amd64 (uefi): service up after"),
        "{err}"
    );

    let dir = fx.path().join("out");
    let (qcow2, raw, vmdk, ova) = (
        dir.join("app.qcow2"),
        dir.join("app.raw"),
        dir.join("app.vmdk"),
        dir.join("app.ova"),
    );
    // Formats.
    let info = qemu_img_info(&qcow2);
    assert_eq!(info["format"], "qcow2", "{info}");
    assert_eq!(info["virtual-size"], 2u64 << 30, "{info}");
    let info = qemu_img_info(&vmdk);
    assert_eq!(info["format"], "vmdk", "{info}");
    assert_eq!(
        info["format-specific"]["data"]["create-type"], "monolithicSparse",
        "{info}"
    );
    assert_eq!(qemu_img_info(&raw)["format"], "raw");

    // The partition table: an ESP (bootable from BIOS too) and an x86-64 root partition.
    let parts = partitions(&raw);
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(
        parts[0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        "{parts:?}"
    );
    assert_eq!(parts[0]["start"], 2048);
    assert!(
        parts[0]["attrs"]
            .as_str()
            .unwrap_or_default()
            .contains("LegacyBIOSBootable"),
        "{parts:?}"
    );
    assert_eq!(
        parts[1]["type"], "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        "{parts:?}"
    );
    // Both file systems are valid; the root holds the package and the configuration.
    let esp_offset = parts[0]["start"].as_u64().unwrap() * 512;
    let root_offset = parts[1]["start"].as_u64().unwrap() * 512;
    let fat = run(Command::new("mdir")
        .arg("-i")
        .arg(format!("{}@@{esp_offset}", raw.display()))
        .arg("::/EFI/BOOT")
        .env("MTOOLS_SKIP_CHECK", "1"));
    assert_success(&fat, "mdir of the ESP");
    assert!(stdout(&fat).contains("BOOTX64  EFI"), "{}", stdout(&fat));
    let fsck = run(Command::new("/usr/sbin/e2fsck")
        .args(["-n", "-f"])
        .arg(format!("{}?offset={root_offset}", raw.display())));
    assert_success(&fsck, "e2fsck of the root file system");
    assert_eq!(
        root_file(&raw, root_offset, "/etc/hostname"),
        "forge-http\n"
    );
    assert!(root_file(&raw, root_offset, "/var/lib/dpkg/status")
        .contains("Package: forge-fixture-http\nStatus: install ok installed"));
    assert_eq!(root_file(&raw, root_offset, "/etc/machine-id"), "");
    let fstab = root_file(&raw, root_offset, "/etc/fstab");
    assert!(fstab.contains("/boot/efi vfat"), "{fstab}");

    // The OVA: descriptor first, then the manifest, then the stream-optimised disk it names.
    let members = tar_members(&ova);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "forge-fixture-http.ovf",
            "forge-fixture-http.mf",
            "forge-fixture-http-disk1.vmdk"
        ]
    );
    let unpacked = tempfile::tempdir().unwrap();
    let untar = run(Command::new("tar")
        .arg("-xf")
        .arg(&ova)
        .arg("-C")
        .arg(unpacked.path()));
    assert_success(&untar, "tar -xf app.ova");
    let ovf = std::fs::read_to_string(unpacked.path().join("forge-fixture-http.ovf")).unwrap();
    assert_eq!(
        xml_attr(&ovf, "File", "ovf:href"),
        "forge-fixture-http-disk1.vmdk"
    );
    assert_eq!(xml_attr(&ovf, "File", "ovf:size"), members[2].1.to_string());
    assert_eq!(
        xml_attr(&ovf, "Disk", "ovf:fileRef"),
        xml_attr(&ovf, "File", "ovf:id")
    );
    assert_eq!(
        xml_attr(&ovf, "Disk", "ovf:capacity"),
        (2u64 << 30).to_string()
    );
    let disk = unpacked.path().join("forge-fixture-http-disk1.vmdk");
    let info = qemu_img_info(&disk);
    assert_eq!(
        info["format-specific"]["data"]["create-type"], "streamOptimized",
        "{info}"
    );
    assert_eq!(info["virtual-size"], 2u64 << 30, "{info}");
    let mf = std::fs::read_to_string(unpacked.path().join("forge-fixture-http.mf")).unwrap();
    assert!(
        mf.contains(&format!(
            "SHA256(forge-fixture-http-disk1.vmdk)= {}",
            sha256_file(&disk)
        )),
        "{mf}"
    );
    assert!(mf.contains(&format!(
        "SHA256(forge-fixture-http.ovf)= {}",
        sha256_file(&unpacked.path().join("forge-fixture-http.ovf"))
    )));

    // Again, with the same SOURCE_DATE_EPOCH (and the cached base): the same bytes.
    let again = forge_image(
        fx.path(),
        &[
            "--output",
            "raw:again/app.raw",
            "--output",
            "qcow2:again/app.qcow2",
            "--output",
            "vmdk:again/app.vmdk",
            "--output",
            "ova:again/app.ova",
        ],
    );
    assert_success(&again, "second build");
    for name in ["app.raw", "app.qcow2", "app.vmdk", "app.ova"] {
        assert_eq!(
            sha256_file(&dir.join(name)),
            sha256_file(&fx.path().join("again").join(name)),
            "{name} differs between two builds with the same SOURCE_DATE_EPOCH"
        );
    }
}

/// Mistakes are reported before anything is built, with exit code 2 and the key or flag.
#[test]
fn vm_bad_input() {
    let cases: &[(&[&str], Option<(&str, &str)>, &str)] = &[
        (&["--boot-test"], None, "`--boot-test` boots a VM image"),
        (&["--output", "qcow2:"], None, "the file name is missing"),
        (
            &[
                "--output",
                "raw:x.raw",
                "--platform",
                "linux/amd64,linux/arm64",
            ],
            None,
            "put `{arch}` in the file name",
        ),
        (
            &["--output", "raw:x.raw"],
            Some(("size = \"2G\"", "size = \"lots\"")),
            "package.metadata.forge.vm.size",
        ),
        (
            &["--output", "raw:x.raw", "--platform", "linux/arm64"],
            Some(("size = \"2G\"", "size = \"2G\"\nboot = \"bios\"")),
            "BIOS boot exists only on amd64",
        ),
        (
            &["--output", "raw:x.raw"],
            Some((
                "size = \"2G\"",
                "size = \"2G\"\nusers = [{ name = \"Admin\" }]",
            )),
            "package.metadata.forge.vm.users[0]",
        ),
        (
            &["--output", "raw:x.raw"],
            Some(("size = \"2G\"", "size = \"2G\"\nfilesystem = \"xfs\"")),
            "only \"ext4\"",
        ),
        (
            &[
                "--output",
                "raw:x.raw",
                "--platform",
                "linux/arm64",
                "--boot-test",
            ],
            Some(("firmware = \"uefi\"", "firmware = \"bios\"")),
            "`bios` cannot boot the arm64 image",
        ),
    ];
    for (args, edit, want) in cases {
        let fx = match edit {
            Some((from, to)) => {
                let f = Fixture::copy("http-service");
                f.edit_manifest(from, to);
                f
            }
            None => Fixture::copy("http-service"),
        };
        let mut cmd = Command::new(bin("cargo-forge-image"));
        cmd.arg("forge-image")
            .args(*args)
            .arg("--dry-run")
            .current_dir(fx.path())
            .env("NO_COLOR", "1");
        let out = run(&mut cmd);
        let err = stderr(&out);
        if !is_root() && err.contains("needs root") {
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: want `{want}` in: {err}");
        assert!(!fx.path().join("target/forge/vm").exists(), "{args:?}");
    }
}

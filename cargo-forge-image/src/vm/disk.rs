//! The raw disk, assembled from files: GPT, EFI system partition, root file system, boot loaders.
//!
//! No loop device and no mount: every tool writes into the one image file at the partition's
//! offset. `sfdisk` writes the partition table into the (sparse) file; `mformat`/`mcopy`
//! (mtools, `IMAGE@@OFFSET`) make and fill the FAT32 EFI system partition; `mkfs.ext4 -d DIR -E
//! offset=…` makes the root file system from the prepared tree; SYSLINUX's mtools installer
//! (`syslinux --offset`) and its GPT MBR code make the BIOS path.
//!
//! Layout (sectors of 512 bytes, everything 1 MiB aligned): the EFI system partition at 1 MiB,
//! 256 MiB, then the root partition up to the last whole MiB before the backup GPT. The root
//! partition has the type of the Discoverable Partitions Specification for its architecture.
//!
//! Reproducibility: every identifier (disk GUID, partition UUIDs, the ext4 UUID and hash seed,
//! the FAT serial number) is derived from a seed that digests the build's inputs, and every
//! timestamp is `SOURCE_DATE_EPOCH`: mtools reads it itself, mke2fs through
//! `E2FSPROGS_FAKE_TIME`. `mkfs.ext4 -d` copies each file's atime and ctime from the tree,
//! which no tool can set to the past (ctime is always "now" on the build machine), so a
//! `debugfs` pass sets atime and ctime of every inode to `SOURCE_DATE_EPOCH` and clamps mtimes
//! to it, as mmdebstrap does for its own output. mtools instead of `mkfs.vfat`: dosfstools 4.2's
//! `--invariant` fixes the serial number to 1234-ABCD (ignoring `-i`), and without it the label
//! carries the current time, while `mformat` takes both a serial number and
//! `SOURCE_DATE_EPOCH`.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use forge_core::process::Cmd;
use forge_core::Shell;

use super::config::BootMode;

pub const SECTOR: u64 = 512;
/// Partition alignment.
pub const ALIGN: u64 = 1 << 20;
/// Size of the EFI system partition (room for two kernels and initrds during an upgrade).
pub const ESP_SIZE: u64 = 256 << 20;

/// GPT type of the EFI system partition.
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// GPT type of the root partition for a Debian architecture (Discoverable Partitions
/// Specification), or the generic Linux file system type.
pub fn root_type(arch: &str) -> &'static str {
    match arch {
        "amd64" => "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        "arm64" => "B921B045-1DF0-4C13-9D79-3DD3ED6F3A5C",
        "i386" => "44479540-F297-41B2-9AF7-D131D5F0458A",
        "armhf" | "armel" => "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3",
        "riscv64" => "72EC70A6-CF74-40E6-BD49-4BDA08E8F224",
        "ppc64el" => "C31C45E6-3F39-412E-80FB-4809C4980599",
        "s390x" => "5EEAD9A9-FE09-4A1E-A1D7-520D00531306",
        _ => "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    }
}

/// Identifiers of one image, all derived from one seed.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Ids {
    pub disk_guid: String,
    pub esp_partuuid: String,
    pub root_partuuid: String,
    /// UUID of the ext4 file system (and its directory hash seed).
    pub root_fs_uuid: String,
    /// FAT volume serial number, as `XXXX-XXXX` it is the ESP's "UUID".
    pub esp_serial: u32,
}

impl Ids {
    /// Identifiers from `seed` (a digest of everything the image is made from).
    pub fn derive(seed: &str) -> Ids {
        let uuid = |label: &str| uuid_from(&Sha256::digest(format!("{seed}:{label}")));
        let serial = Sha256::digest(format!("{seed}:esp-serial"));
        Ids {
            disk_guid: uuid("disk"),
            esp_partuuid: uuid("esp"),
            root_partuuid: uuid("root"),
            root_fs_uuid: uuid("root-fs"),
            esp_serial: u32::from_be_bytes([serial[0], serial[1], serial[2], serial[3]]),
        }
    }

    /// The ESP's file system UUID as blkid and fstab spell it.
    pub fn esp_fs_uuid(&self) -> String {
        format!(
            "{:04X}-{:04X}",
            self.esp_serial >> 16,
            self.esp_serial & 0xffff
        )
    }
}

/// A random-looking (version 4, RFC 4122 variant) UUID from the first 16 bytes of a digest.
fn uuid_from(d: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// One partition, in bytes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub start: u64,
    pub size: u64,
    pub type_guid: String,
    pub uuid: String,
}

/// The partitions of an image.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Layout {
    /// The disk's size in bytes (a multiple of 1 MiB).
    pub disk_size: u64,
    pub esp: Partition,
    pub root: Partition,
}

/// The layout of a disk of (at least) `size` bytes, rounded up to a whole MiB.
pub fn layout(size: u64, arch: &str, ids: &Ids) -> Result<Layout> {
    let disk_size = size.div_ceil(ALIGN) * ALIGN;
    let esp_start = ALIGN;
    let root_start = esp_start + ESP_SIZE;
    // The backup GPT takes the last 33 sectors: the root partition ends at the last whole MiB
    // before them.
    let usable_end = disk_size.saturating_sub(33 * SECTOR);
    let root_end = usable_end / ALIGN * ALIGN;
    if root_end < root_start + (64 << 20) {
        bail!(
            "a disk of {} MiB leaves no room for a root file system after the 256 MiB EFI system partition",
            disk_size >> 20
        );
    }
    Ok(Layout {
        disk_size,
        esp: Partition {
            name: "esp".into(),
            start: esp_start,
            size: ESP_SIZE,
            type_guid: ESP_TYPE.into(),
            uuid: ids.esp_partuuid.clone(),
        },
        root: Partition {
            name: "root".into(),
            start: root_start,
            size: root_end - root_start,
            type_guid: root_type(arch).into(),
            uuid: ids.root_partuuid.clone(),
        },
    })
}

/// The `sfdisk` script of a layout. The ESP carries GPT attribute 2 (legacy BIOS bootable) when
/// BIOS boots from it: SYSLINUX's GPT MBR code looks for that attribute.
pub fn sfdisk_script(l: &Layout, ids: &Ids, boot: BootMode) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "label: gpt");
    let _ = writeln!(s, "label-id: {}", ids.disk_guid.to_uppercase());
    let _ = writeln!(s, "unit: sectors");
    let _ = writeln!(s, "first-lba: {}", ALIGN / SECTOR);
    let attrs = if boot.bios() {
        ", attrs=\"LegacyBIOSBootable\""
    } else {
        ""
    };
    for (p, a) in [(&l.esp, attrs), (&l.root, "")] {
        let _ = writeln!(
            s,
            "start={}, size={}, type={}, uuid={}, name=\"{}\"{a}",
            p.start / SECTOR,
            p.size / SECTOR,
            p.type_guid,
            p.uuid.to_uppercase(),
            p.name
        );
    }
    s
}

/// Creates the sparse image file and writes the partition table.
pub fn create(image: &Path, l: &Layout, ids: &Ids, boot: BootMode, shell: &Shell) -> Result<()> {
    let f = fs::File::create(image)
        .with_context(|| format!("failed to create `{}`", image.display()))?;
    f.set_len(l.disk_size)
        .with_context(|| format!("failed to size `{}`", image.display()))?;
    drop(f);
    let script = image.with_extension("sfdisk");
    fs::write(&script, sfdisk_script(l, ids, boot))
        .with_context(|| format!("failed to write `{}`", script.display()))?;
    // sfdisk reads its script from stdin; the shell redirect keeps `Cmd` free of pipes.
    Cmd::new("sh")
        .args([
            "-c",
            "exec sfdisk --quiet --no-reread --no-tell-kernel --wipe never \"$1\" < \"$2\"",
            "sfdisk",
        ])
        .arg(image)
        .arg(&script)
        .install_hint("apt-get install fdisk")
        .output(shell)
        .context("failed to write the partition table")?;
    let _ = fs::remove_file(&script);
    Ok(())
}

fn mtools(program: &str, sde: u64) -> Cmd {
    Cmd::new(program)
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("SOURCE_DATE_EPOCH", sde.to_string())
        .env("TZ", "UTC")
        .install_hint("apt-get install mtools")
}

fn at(image: &Path, offset: u64) -> String {
    format!("{}@@{offset}", image.display())
}

/// Makes a FAT32 file system in `part` and copies the tree `dir` into it.
pub fn write_fat(
    image: &Path,
    part: &Partition,
    label: &str,
    serial: u32,
    dir: &Path,
    sde: u64,
    shell: &Shell,
) -> Result<()> {
    let target = at(image, part.start);
    mtools("mformat", sde)
        .args(["-i", &target, "-F"])
        .args(["-T", &(part.size / SECTOR).to_string()])
        .args(["-h", "64", "-s", "32"])
        .args(["-H", &(part.start / SECTOR).to_string()])
        .args(["-c", "2"])
        .args(["-N", &format!("{serial:08X}")])
        .args(["-v", label, "::"])
        .output(shell)
        .with_context(|| format!("failed to make the FAT file system of `{}`", part.name))?;
    copy_into_fat(image, part, dir, sde, shell)
}

/// Makes a small FAT file system filling a whole image file (a NoCloud `cidata` disk).
pub fn write_fat_image(
    image: &Path,
    size: u64,
    label: &str,
    dir: &Path,
    sde: u64,
    shell: &Shell,
) -> Result<()> {
    let f = fs::File::create(image)
        .with_context(|| format!("failed to create `{}`", image.display()))?;
    f.set_len(size)
        .with_context(|| format!("failed to size `{}`", image.display()))?;
    drop(f);
    mtools("mformat", sde)
        .args(["-i"])
        .arg(image)
        .args(["-v", label, "-N", "0000C1DA", "::"])
        .output(shell)
        .context("failed to make the seed disk")?;
    let part = Partition {
        name: label.into(),
        start: 0,
        size,
        type_guid: String::new(),
        uuid: String::new(),
    };
    copy_into_fat(image, &part, dir, sde, shell)
}

fn copy_into_fat(
    image: &Path,
    part: &Partition,
    dir: &Path,
    sde: u64,
    shell: &Shell,
) -> Result<()> {
    let target = at(image, part.start);
    let mut names: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("failed to read `{}`", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("failed to read `{}`", dir.display()))?;
    names.sort();
    if names.is_empty() {
        return Ok(());
    }
    mtools("mcopy", sde)
        .args(["-i", &target, "-s", "-p", "-m", "-Q"])
        .args(&names)
        .arg("::/")
        .cwd(dir)
        .output(shell)
        .with_context(|| format!("failed to copy files into the `{}` partition", part.name))?;
    Ok(())
}

/// Makes the ext4 root file system in `part` from the tree `root`, then sets every inode's
/// atime and ctime to `sde` and clamps mtimes to it (see the module documentation).
pub fn write_ext4(
    image: &Path,
    part: &Partition,
    fs_uuid: &str,
    root: &Path,
    sde: u64,
    shell: &Shell,
) -> Result<()> {
    let blocks_k = part.size / 1024;
    Cmd::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-U", fs_uuid])
        .arg("-E")
        .arg(format!(
            "offset={},nodiscard,hash_seed={fs_uuid}",
            part.start
        ))
        .arg("-d")
        .arg(root)
        .arg(image)
        .arg(format!("{blocks_k}k"))
        .env("E2FSPROGS_FAKE_TIME", sde.to_string())
        .install_hint("apt-get install e2fsprogs")
        .output(shell)
        .map_err(|e| {
            if format!("{e:#}").contains("Could not allocate block")
                || format!("{e:#}").contains("No space left")
            {
                e.context("the root file system does not fit: raise `size` in [package.metadata.forge.vm]")
            } else {
                e.context("failed to make the root file system")
            }
        })?;
    let script = image.with_extension("debugfs");
    write_time_script(root, sde, &script)?;
    Cmd::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&script)
        .arg(format!("{}?offset={}", image.display(), part.start))
        .env("E2FSPROGS_FAKE_TIME", sde.to_string())
        .install_hint("apt-get install e2fsprogs")
        .output(shell)
        .context("failed to set the timestamps of the root file system")?;
    let _ = fs::remove_file(&script);
    // The file system must be clean after debugfs: fail here rather than at boot.
    Cmd::new("e2fsck")
        .args(["-n", "-f"])
        .arg(format!("{}?offset={}", image.display(), part.start))
        .env("E2FSPROGS_FAKE_TIME", sde.to_string())
        .output(shell)
        .context("the root file system is not consistent")?;
    Ok(())
}

/// The debugfs commands that set atime/ctime of every file of `root` (and clamp mtime).
fn write_time_script(root: &Path, sde: u64, script: &Path) -> Result<()> {
    let mut out = std::io::BufWriter::new(
        fs::File::create(script)
            .with_context(|| format!("failed to create `{}`", script.display()))?,
    );
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = fs::symlink_metadata(&p)
            .with_context(|| format!("failed to read metadata of `{}`", p.display()))?;
        let rel = p.strip_prefix(root).unwrap_or(Path::new(""));
        // debugfs takes a quoted argument literally, with `""` for a quote.
        let name = format!("/{}", rel.to_string_lossy()).replace('"', "\"\"");
        if name.contains(['\n', '\r']) || rel.to_str().is_none() {
            bail!(
                "`{}` has a name debugfs cannot address (a line break, or not UTF-8)",
                p.display()
            );
        }
        writeln!(out, "sif \"{name}\" atime @{sde}")?;
        writeln!(out, "sif \"{name}\" ctime @{sde}")?;
        use std::os::unix::fs::MetadataExt;
        if meta.mtime() > sde as i64 || meta.mtime_nsec() != 0 {
            writeln!(
                out,
                "sif \"{name}\" mtime @{}",
                (meta.mtime().max(0) as u64).min(sde)
            )?;
        }
        if meta.is_dir() {
            for e in
                fs::read_dir(&p).with_context(|| format!("failed to read `{}`", p.display()))?
            {
                stack.push(e?.path());
            }
        }
    }
    out.flush()
        .with_context(|| format!("failed to write `{}`", script.display()))?;
    Ok(())
}

/// The BIOS path: SYSLINUX in the ESP's boot sector (`ldlinux.sys`, `ldlinux.c32` in
/// `/syslinux`), and SYSLINUX's GPT MBR code in the first 440 bytes of the disk, which boots
/// the partition marked legacy-BIOS-bootable.
pub fn install_syslinux(image: &Path, esp: &Partition, sde: u64, shell: &Shell) -> Result<()> {
    Cmd::new("syslinux")
        .arg("--offset")
        .arg(esp.start.to_string())
        .args(["--install", "--directory", "/syslinux"])
        .arg(image)
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("SOURCE_DATE_EPOCH", sde.to_string())
        .install_hint("apt-get install syslinux syslinux-common mtools")
        .output(shell)
        .context("failed to install SYSLINUX into the EFI system partition")?;
    let mbr = gptmbr()?;
    let code = fs::read(&mbr).with_context(|| format!("failed to read `{}`", mbr.display()))?;
    if code.len() != 440 {
        bail!(
            "`{}` is {} bytes, not the 440 bytes of MBR boot code",
            mbr.display(),
            code.len()
        );
    }
    use std::io::{Seek, SeekFrom};
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(image)
        .with_context(|| format!("failed to open `{}`", image.display()))?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&code).with_context(|| {
        format!(
            "failed to write the MBR boot code into `{}`",
            image.display()
        )
    })?;
    Ok(())
}

/// SYSLINUX's GPT MBR boot code (Debian: syslinux-common).
fn gptmbr() -> Result<PathBuf> {
    for p in [
        "/usr/lib/syslinux/mbr/gptmbr.bin",
        "/usr/share/syslinux/gptmbr.bin",
        "/usr/lib/SYSLINUX/gptmbr.bin",
    ] {
        if Path::new(p).is_file() {
            return Ok(PathBuf::from(p));
        }
    }
    Err(forge_core::exit::with_kind(
        anyhow::anyhow!("SYSLINUX's GPT MBR code (`gptmbr.bin`) is not installed"),
        forge_core::exit::ErrorKind::MissingTool,
    ))
    .map_err(|e| forge_core::exit::with_hint(e, "apt-get install syslinux-common".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = Ids::derive("seed");
        assert_eq!(a, Ids::derive("seed"));
        assert_ne!(a.root_fs_uuid, Ids::derive("other").root_fs_uuid);
        assert_ne!(a.disk_guid, a.root_partuuid);
        assert_eq!(a.root_fs_uuid.len(), 36);
        assert_eq!(&a.root_fs_uuid[14..15], "4");
        assert!(a.esp_fs_uuid().len() == 9 && a.esp_fs_uuid().contains('-'));
    }

    #[test]
    fn layout_is_aligned() {
        let ids = Ids::derive("x");
        let l = layout(2 << 30, "amd64", &ids).unwrap();
        assert_eq!(l.disk_size, 2 << 30);
        assert_eq!(l.esp.start, 1 << 20);
        assert_eq!(l.root.start, (1 << 20) + ESP_SIZE);
        assert_eq!(l.root.start % ALIGN, 0);
        assert_eq!((l.root.start + l.root.size) % ALIGN, 0);
        assert!(l.root.start + l.root.size <= l.disk_size - 33 * SECTOR);
        assert_eq!(l.root.type_guid, root_type("amd64"));
        // Rounded up to a MiB.
        assert_eq!(
            layout((1 << 30) + 1, "arm64", &ids).unwrap().disk_size,
            (1 << 30) + (1 << 20)
        );
        assert!(layout(200 << 20, "amd64", &ids).is_err());
    }

    #[test]
    fn sfdisk_script_marks_bios_boot() {
        let ids = Ids::derive("x");
        let l = layout(1 << 30, "arm64", &ids).unwrap();
        let s = sfdisk_script(&l, &ids, BootMode::Hybrid);
        assert!(s.contains("attrs=\"LegacyBIOSBootable\""), "{s}");
        assert!(s.contains(&format!("type={}", root_type("arm64"))));
        assert!(s.contains("start=2048, size=524288"));
        assert!(!sfdisk_script(&l, &ids, BootMode::Uefi).contains("attrs"));
    }
}

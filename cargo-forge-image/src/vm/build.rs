//! Building the VM images of a plan ([`execute`]): for each architecture, the root file system
//! prepared from the cached base and the package, the raw disk written from it, the outputs
//! converted and moved into place, and the boot tests.
//!
//! Apart from [`super`], which decides (the plan), so that the build reads from the top as the
//! steps of [`build_image`]: prepare, write the disk, write the outputs, boot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::project::Project;
use forge_core::Shell;

use super::boot_test::{self, Firmware};
use super::convert::{self, DiskFormat};
use super::{base, disk, rootfs, ImageResult, VmImage, VmPlan, VmResult, WrittenOutput};

/// The seed every identifier of an image derives from: the base, the package, the settings.
fn seed(plan: &VmPlan, image: &VmImage, deb_sha256: &str) -> Result<String> {
    let settings = serde_json::json!({
        "base": image.base.digest,
        "deb": deb_sha256,
        "hostname": plan.hostname,
        "users": plan.users,
        "cloud_init": plan.cloud_init,
        "cmdline": plan.kernel_cmdline,
        "size": plan.size,
        "boot": image.boot,
        "sde": plan.source_date_epoch,
    });
    Ok(forge_core::digest::sha256_hex(
        settings.to_string().as_bytes(),
    ))
}

fn kernel_cmdline(plan: &VmPlan, image: &VmImage, root_uuid: &str) -> String {
    let mut c = format!(
        "root=UUID={root_uuid} ro console=tty0 console={},115200",
        image.console
    );
    // A busy host running the VM under emulation can miss the kernel's early timer check,
    // which then panics ("IO-APIC + timer doesn't work"); a virtual machine's timer is fine.
    if matches!(image.arch.as_str(), "amd64" | "i386") {
        c.push_str(" no_timer_check");
    }
    if let Some(extra) = &plan.kernel_cmdline {
        if !extra.trim().is_empty() {
            c.push(' ');
            c.push_str(extra.trim());
        }
    }
    c
}

/// Builds every image of the plan from the packages in `debs` (target → .deb).
pub fn execute(
    _project: &Project,
    plan: &VmPlan,
    debs: &BTreeMap<String, PathBuf>,
    shell: &Shell,
) -> Result<VmResult> {
    let mut images = Vec::new();
    for image in &plan.images {
        images.push(build_image(plan, image, debs, shell)?);
    }
    Ok(VmResult { images })
}

/// One image, in steps: [`prepare`] (the base, the seed of every identifier, the root file
/// system), [`write_disk`] (the raw disk), [`write_outputs`] (converted and moved into place),
/// [`boot_tests`] (`--boot-test`).
fn build_image(
    plan: &VmPlan,
    image: &VmImage,
    debs: &BTreeMap<String, PathBuf>,
    shell: &Shell,
) -> Result<ImageResult> {
    let started = std::time::Instant::now();
    let work = prepare(plan, image, debs, shell)?;
    write_disk(plan, image, &work, shell)?;
    let written = write_outputs(plan, image, &work, shell)?;
    let build_seconds = started.elapsed().as_secs_f64();
    let boot_tests = boot_tests(plan, image, &work, shell)?;
    if work.raw_out.is_none() {
        let _ = std::fs::remove_file(&work.raw);
    }
    Ok(ImageResult {
        arch: image.arch.clone(),
        kernel: work.prepared.kernel_version.clone(),
        disk_size: work.layout.disk_size,
        outputs: written,
        boot_tests,
        build_seconds,
    })
}

/// What the steps of [`build_image`] share: the seed and the identifiers derived from it, the
/// disk layout, the prepared trees, the raw disk (an output's partial file when `raw:` is asked
/// for, else a work file).
struct Work {
    seed: String,
    ids: disk::Ids,
    layout: disk::Layout,
    prepared: rootfs::Prepared,
    raw: PathBuf,
    raw_out: Option<PathBuf>,
}

/// The base (built or cached), the seed, the layout, and the root file system with the
/// package installed.
fn prepare(
    plan: &VmPlan,
    image: &VmImage,
    debs: &BTreeMap<String, PathBuf>,
    shell: &Shell,
) -> Result<Work> {
    let deb = debs
        .get(&image.target)
        .with_context(|| format!("forge-deb made no package for {}", image.target))?;
    let base_tar = base::ensure(&image.base, shell)?;
    let deb_sha = forge_core::digest::sha256_file(deb)?;
    let seed = seed(plan, image, &deb_sha)?;
    let ids = disk::Ids::derive(&seed);
    let layout = disk::layout(plan.size, &image.arch, &ids).kind(ErrorKind::Usage)?;
    let work = &image.work_dir;
    forge_core::fsx::create_dir_all(work)?;
    shell.status(
        "Preparing",
        format!(
            "{} {} root file system ({})",
            plan.package, plan.version, image.arch
        ),
    );
    let spec = rootfs::RootSpec {
        arch: image.arch.clone(),
        deb: deb.clone(),
        hostname: plan.hostname.clone(),
        users: plan.users.clone(),
        cloud_init: plan.cloud_init,
        cmdline: kernel_cmdline(plan, image, &ids.root_fs_uuid),
        root_fs_uuid: ids.root_fs_uuid.clone(),
        esp_fs_uuid: ids.esp_fs_uuid(),
        boot: image.boot,
        sde: plan.source_date_epoch,
        suite: plan.suite.clone(),
        package: plan.package.clone(),
    };
    let prepared = rootfs::prepare(work, &base_tar, &spec, shell)?;
    let raw_out = image
        .outputs
        .iter()
        .find(|o| o.format == DiskFormat::Raw)
        .map(|o| o.path.clone());
    let raw = match &raw_out {
        Some(p) => partial(p),
        None => work.join("disk.raw"),
    };
    Ok(Work {
        seed,
        ids,
        layout,
        prepared,
        raw,
        raw_out,
    })
}

/// The raw disk: partition table, ESP (with SYSLINUX for BIOS boot), root file system; the
/// trees it was made from are removed.
fn write_disk(plan: &VmPlan, image: &VmImage, w: &Work, shell: &Shell) -> Result<()> {
    let Work {
        ids,
        layout,
        prepared,
        raw,
        ..
    } = w;
    shell.status(
        "Assembling",
        format!(
            "{} MiB disk ({}, {}, kernel {})",
            layout.disk_size >> 20,
            image.arch,
            image.boot.name(),
            prepared.kernel_version
        ),
    );
    if let Some(parent) = raw.parent() {
        forge_core::fsx::create_dir_all(parent)?;
    }
    let sde = plan.source_date_epoch;
    disk::create(&raw, &layout, &ids, image.boot, shell)?;
    disk::write_fat(
        &raw,
        &layout.esp,
        "ESP",
        ids.esp_serial,
        &prepared.esp,
        sde,
        shell,
    )?;
    if image.boot.bios() {
        // Before the root file system: SYSLINUX's installer calls sync(2), which is cheap
        // while little is waiting to be written.
        disk::install_syslinux(&raw, &layout.esp, sde, shell)?;
    }
    disk::write_ext4(
        &raw,
        &layout.root,
        &ids.root_fs_uuid,
        &prepared.root,
        sde,
        shell,
    )?;
    // The trees are large and rebuilt each time.
    let _ = std::fs::remove_dir_all(&prepared.root);
    let _ = std::fs::remove_dir_all(&prepared.esp);
    Ok(())
}

/// Every output but the raw disk converted from it, then all moved into place; what was
/// written, with its size on disk.
fn write_outputs(
    plan: &VmPlan,
    image: &VmImage,
    w: &Work,
    shell: &Shell,
) -> Result<Vec<WrittenOutput>> {
    let Work {
        seed,
        layout,
        raw,
        raw_out,
        ..
    } = w;
    let work = &image.work_dir;
    let sde = plan.source_date_epoch;
    let mut written = Vec::new();
    for o in &image.outputs {
        let tmp = partial(&o.path);
        if let Some(parent) = tmp.parent() {
            forge_core::fsx::create_dir_all(parent)?;
        }
        match o.format {
            DiskFormat::Raw => continue,
            DiskFormat::Qcow2 | DiskFormat::Vmdk => {
                shell.status(
                    "Converting",
                    format!("{} to {}", image.arch, o.format.name()),
                );
                convert::convert(&raw, o.format, &tmp, plan.compress, &seed, shell)?;
            }
            DiskFormat::Ova => {
                shell.status("Packing", format!("{} OVA", image.arch));
                let spec = convert::OvfSpec {
                    name: plan.package.clone(),
                    version: plan.version.clone(),
                    description: plan.description.clone(),
                    arch: image.arch.clone(),
                    suite: plan.suite.clone(),
                    capacity: layout.disk_size,
                    memory_mib: 1024,
                    cpus: 2,
                    uefi: image.boot.uefi(),
                };
                convert::write_ova(&raw, &tmp, &spec, sde, &seed, work, shell)?;
            }
        }
        commit(&o.path)?;
    }
    if let Some(p) = &raw_out {
        commit(p)?;
    }
    for o in &image.outputs {
        let size = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&o.path)
                .map(|m| m.blocks() * 512)
                .with_context(|| format!("failed to read metadata of `{}`", o.path.display()))?
        };
        written.push(WrittenOutput {
            format: o.format,
            path: o.path.clone(),
            size,
        });
        shell.status(
            "Wrote",
            format!(
                "{}:{} ({:.1} MiB)",
                o.format.name(),
                o.path.display(),
                size as f64 / (1 << 20) as f64
            ),
        );
    }
    Ok(written)
}

/// `--boot-test`: the image booted with each firmware it supports (and the test asks for).
fn boot_tests(
    plan: &VmPlan,
    image: &VmImage,
    w: &Work,
    shell: &Shell,
) -> Result<Vec<boot_test::BootReport>> {
    let Work { prepared, raw, .. } = w;
    let work = &image.work_dir;
    let sde = plan.source_date_epoch;
    let mut boot_tests = Vec::new();
    if let Some(bt) = &plan.boot_test {
        // Boot an output qemu reads (never written: snapshot mode), else the work disk.
        let (disk_path, format) = image
            .outputs
            .iter()
            .find_map(|o| o.format.qemu_format().map(|f| (o.path.clone(), f)))
            .unwrap_or((raw.clone(), "raw"));
        let units = bt.units.clone().unwrap_or_else(|| prepared.units.clone());
        let seed_disk = if plan.cloud_init {
            Some(nocloud_seed(work, &plan.hostname, sde, shell)?)
        } else {
            None
        };
        let wanted = bt.firmware.unwrap_or(image.boot);
        let mut firmwares = Vec::new();
        if image.boot.uefi() && wanted.uefi() {
            firmwares.push(Firmware::Uefi);
        }
        if image.boot.bios() && wanted.bios() {
            firmwares.push(Firmware::Bios);
        }
        for fw in firmwares {
            let t = boot_test::BootTest {
                arch: image.arch.clone(),
                firmware: fw,
                image: disk_path.clone(),
                format: format.to_string(),
                port: bt.port,
                http: bt.http.clone(),
                units: if bt.port.is_some() {
                    Vec::new()
                } else {
                    units.clone()
                },
                timeout: Duration::from_secs(bt.timeout.get(&image.arch).copied().unwrap_or(600)),
                memory_mib: bt.memory_mib,
                seed: seed_disk.clone(),
                console_log: work.join(format!("console-{}.log", fw.name())),
            };
            let r = boot_test::run(&t, shell)?;
            shell.status(
                "Booted",
                format!(
                    "{} ({}): service up after {:.1}s — {}{}",
                    r.arch,
                    fw.name(),
                    r.seconds_to_service,
                    r.evidence,
                    r.seconds_to_power_off
                        .map(|s| format!("; powered off in {s:.1}s"))
                        .unwrap_or_default()
                ),
            );
            boot_tests.push(r);
        }
    }
    Ok(boot_tests)
}

/// Where an output is written before it is renamed into place: `DIR/.NAME.partial/NAME`, a
/// directory of its own so the file already has its final name (a VMDK names its own file in
/// its descriptor).
fn partial(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default();
    let mut dir = std::ffi::OsString::from(".");
    dir.push(name);
    dir.push(".partial");
    path.with_file_name(dir).join(name)
}

/// Moves a finished output from [`partial`] into place.
fn commit(path: &Path) -> Result<()> {
    let tmp = partial(path);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("failed to move `{}` into place", path.display()))?;
    if let Some(dir) = tmp.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

/// A NoCloud seed disk (`cidata`) for the boot test of an image with cloud-init: no user data,
/// the instance ID and the host name.
fn nocloud_seed(work: &Path, hostname: &str, sde: u64, shell: &Shell) -> Result<PathBuf> {
    let dir = work.join("cidata");
    let _ = std::fs::remove_dir_all(&dir);
    forge_core::fsx::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("meta-data"),
        format!("instance-id: forge-boot-test\nlocal-hostname: {hostname}\n"),
    )
    .context("failed to write the NoCloud meta-data")?;
    std::fs::write(dir.join("user-data"), "#cloud-config\n{}\n")
        .context("failed to write the NoCloud user-data")?;
    let img = work.join("cidata.img");
    disk::write_fat_image(&img, 2 << 20, "cidata", &dir, sde, shell)?;
    Ok(img)
}

//! From the raw disk to the formats users upload: qcow2, VMDK, and OVA (OVF descriptor +
//! manifest + stream-optimised VMDK in one tar).
//!
//! `qemu-img convert` does the disk formats. Two details keep the outputs reproducible: qcow2
//! has no time or random field, and VMDK's descriptor carries a random content ID (`CID=`),
//! which is replaced here by one derived from the image's seed (the descriptor is text at a
//! fixed place in the file, and the CID is only compared with a child disk's `parentCID`).
//!
//! The OVF descriptor is written from a template: a fixed document with a handful of values
//! (names, sizes, memory, firmware), so an XML library would add a dependency for escaping five
//! strings. It describes VMware's virtual hardware (`vmx-14`: ESXi 6.7 and later, Workstation
//! 15 and later) with a paravirtual SCSI controller and a VMXNET3 NIC, whose drivers Debian's
//! cloud kernel has, and UEFI firmware when the image boots with it. The OVA is written by
//! `forge_core::archive` in the order OVF requires: descriptor, manifest (SHA-256), disk.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use forge_core::process::Cmd;
use forge_core::Shell;

/// A disk format users ask for with `--output FORMAT:FILE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DiskFormat {
    Raw,
    Qcow2,
    Vmdk,
    Ova,
}

impl DiskFormat {
    pub fn parse(prefix: &str) -> Option<DiskFormat> {
        Some(match prefix {
            "raw" => DiskFormat::Raw,
            "qcow2" => DiskFormat::Qcow2,
            "vmdk" => DiskFormat::Vmdk,
            "ova" => DiskFormat::Ova,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Vmdk => "vmdk",
            DiskFormat::Ova => "ova",
        }
    }

    /// The format qemu reads the output as, for a boot test (`None`: an OVA is not a disk).
    pub fn qemu_format(self) -> Option<&'static str> {
        match self {
            DiskFormat::Raw => Some("raw"),
            DiskFormat::Qcow2 => Some("qcow2"),
            DiskFormat::Vmdk => Some("vmdk"),
            DiskFormat::Ova => None,
        }
    }
}

fn qemu_img() -> Cmd {
    Cmd::new("qemu-img").install_hint("apt-get install qemu-utils")
}

/// Converts the raw disk `raw` to `format` at `out` (not OVA). `compress` makes a compressed
/// qcow2 (zlib clusters, read transparently by qemu), as releases ship it.
pub fn convert(
    raw: &Path,
    format: DiskFormat,
    out: &Path,
    compress: bool,
    seed: &str,
    shell: &Shell,
) -> Result<()> {
    let mut cmd = qemu_img().args(["convert", "-f", "raw", "-O"]);
    match format {
        DiskFormat::Qcow2 => {
            cmd = cmd.args(["qcow2", "-o", "compat=1.1"]);
            if compress {
                cmd = cmd.args(["-c", "-m", "2"]);
            }
        }
        DiskFormat::Vmdk => {
            cmd = cmd.args([
                "vmdk",
                "-o",
                "subformat=monolithicSparse,adapter_type=lsilogic",
            ])
        }
        DiskFormat::Raw | DiskFormat::Ova => bail!("no conversion to {}", format.name()),
    }
    cmd.arg(raw)
        .arg(out)
        .output(shell)
        .with_context(|| format!("failed to convert the disk to {}", format.name()))?;
    if format == DiskFormat::Vmdk {
        fix_vmdk_cid(out, seed)?;
    }
    Ok(())
}

/// Replaces the random `CID=` of a VMDK descriptor with one derived from `seed`.
///
/// qemu-img writes the CID with `%x`, so it has 1 to 8 hex digits (one disk in sixteen has
/// fewer than 8). The descriptor is NUL-padded text in a region the sparse extent header names
/// (`descriptorOffset`, `descriptorSize`, in sectors), so it is rewritten as a whole: the CID
/// always has 8 digits and the rest of the text is kept byte for byte.
fn fix_vmdk_cid(path: &Path, seed: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    let mut header = [0u8; 512];
    f.read_exact(&mut header)
        .with_context(|| format!("failed to read the VMDK header of `{}`", path.display()))?;
    let (offset, size) = descriptor_region(&header).with_context(|| {
        format!(
            "`{}` is not a sparse VMDK extent qemu-img wrote",
            path.display()
        )
    })?;
    let mut region = vec![0u8; size];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut region))
        .with_context(|| format!("failed to read the VMDK descriptor of `{}`", path.display()))?;
    let d = Sha256::digest(format!("{seed}:vmdk-cid"));
    let cid = format!("{:08x}", u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
    let region = with_cid(&region, &cid)
        .with_context(|| format!("`{}` has an unexpected VMDK descriptor", path.display()))?;
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.write_all(&region))
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}

/// The descriptor's byte offset and length from a sparse extent header (`KDMV`, little-endian:
/// descriptorOffset at byte 28, descriptorSize at byte 36, both in 512-byte sectors).
fn descriptor_region(header: &[u8; 512]) -> Result<(u64, usize)> {
    if &header[0..4] != b"KDMV" {
        bail!("the file does not start with a sparse extent header");
    }
    let sectors = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    let (offset, size) = (sectors(28), sectors(36));
    // qemu-img reserves 20 sectors; anything beyond 1 MiB is not a descriptor it wrote.
    if offset == 0 || size == 0 || size > 2048 {
        bail!("the header names no embedded descriptor (offset {offset}, {size} sectors)");
    }
    Ok((offset * 512, (size * 512) as usize))
}

/// The descriptor region with its `CID=` line set to `cid`, NUL-padded to the same length.
fn with_cid(region: &[u8], cid: &str) -> Result<Vec<u8>> {
    let len = region.iter().position(|&b| b == 0).unwrap_or(region.len());
    let text = std::str::from_utf8(&region[..len]).context("the descriptor is not text")?;
    let mut found = false;
    let mut out = String::with_capacity(len + 8);
    for line in text.split_inclusive('\n') {
        let value = line.strip_prefix("CID=").map(str::trim_end);
        match value {
            Some(v)
                if !found
                    && (1..=8).contains(&v.len())
                    && v.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                found = true;
                out.push_str("CID=");
                out.push_str(cid);
                out.push_str(&line[4 + v.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    if !found {
        bail!("it has no `CID=` line of 1 to 8 hex digits");
    }
    if out.len() > region.len() {
        bail!("the descriptor does not fit its region with an 8-digit CID");
    }
    let mut new = out.into_bytes();
    new.resize(region.len(), 0);
    Ok(new)
}

/// What the OVF descriptor says about the machine.
#[derive(Clone, Debug)]
pub struct OvfSpec {
    /// The virtual machine's name (the package).
    pub name: String,
    pub version: String,
    pub description: String,
    pub arch: String,
    pub suite: String,
    /// The disk's virtual size in bytes.
    pub capacity: u64,
    pub memory_mib: u32,
    pub cpus: u32,
    pub uefi: bool,
}

/// Writes the OVA `out`: `<name>.ovf`, `<name>.mf`, `<name>-disk1.vmdk`.
pub fn write_ova(
    raw: &Path,
    out: &Path,
    spec: &OvfSpec,
    sde: u64,
    seed: &str,
    work: &Path,
    shell: &Shell,
) -> Result<()> {
    let disk_name = format!("{}-disk1.vmdk", spec.name);
    let vmdk = work.join(&disk_name);
    qemu_img()
        .args([
            "convert",
            "-f",
            "raw",
            "-O",
            "vmdk",
            "-o",
            "subformat=streamOptimized,adapter_type=lsilogic",
        ])
        .arg(raw)
        .arg(&vmdk)
        .output(shell)
        .context("failed to convert the disk to a stream-optimised VMDK")?;
    fix_vmdk_cid(&vmdk, seed)?;
    let vmdk_size = fs::metadata(&vmdk)
        .with_context(|| format!("failed to read metadata of `{}`", vmdk.display()))?
        .len();
    let ovf = ovf_descriptor(spec, &disk_name, vmdk_size);
    let ovf_name = format!("{}.ovf", spec.name);
    let mf = format!(
        "SHA256({ovf_name})= {}\nSHA256({disk_name})= {}\n",
        hex::encode(Sha256::digest(ovf.as_bytes())),
        forge_core::digest::sha256_file(&vmdk)?
    );
    let entries = vec![
        forge_core::archive::Entry::bytes(&ovf_name, ovf.into_bytes(), 0o644)?,
        forge_core::archive::Entry::bytes(&format!("{}.mf", spec.name), mf.into_bytes(), 0o644)?,
        forge_core::archive::Entry::file(&disk_name, vmdk.clone(), 0o644)?,
    ];
    let opts = forge_core::archive::TarOptions {
        mtime: sde,
        ..Default::default()
    };
    let mut file = forge_core::fsx::AtomicFile::create(out)?;
    forge_core::archive::write_tar_ordered(&mut file, entries, &opts)?;
    file.commit()?;
    let _ = fs::remove_file(&vmdk);
    Ok(())
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// VMware's guest OS identifier, and the CIM operating system type, for the OVF.
fn os_type(arch: &str, suite: &str) -> (&'static str, u32) {
    let debian = match suite {
        "bookworm" => Some(12),
        "bullseye" => Some(11),
        "buster" => Some(10),
        _ => None,
    };
    match (arch, debian) {
        ("amd64", Some(12)) => ("debian12_64Guest", 96),
        ("amd64", Some(11)) => ("debian11_64Guest", 96),
        ("amd64", Some(10)) => ("debian10_64Guest", 96),
        ("amd64", None) => ("other5xLinux64Guest", 101),
        ("arm64", Some(12)) => ("arm-debian12-64Guest", 101),
        ("arm64", _) => ("arm-other5xlinux-64Guest", 101),
        _ => ("otherLinuxGuest", 36),
    }
}

/// The OVF 1.0 descriptor.
pub fn ovf_descriptor(spec: &OvfSpec, disk_name: &str, disk_file_size: u64) -> String {
    let name = xml_escape(&spec.name);
    let (vmw_os, cim_os) = os_type(&spec.arch, &spec.suite);
    let firmware = if spec.uefi {
        "\n      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>"
    } else {
        ""
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- Made by cargo-forge -->
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ovf:version="1.0" xml:lang="en-US">
  <References>
    <File ovf:id="file1" ovf:href="{disk}" ovf:size="{disk_file_size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The network the machine's first interface connects to</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>{name} {version}</Info>
    <Name>{name}</Name>
    <AnnotationSection>
      <Info>Description</Info>
      <Annotation>{description}</Annotation>
    </AnnotationSection>
    <ProductSection>
      <Info>The packaged software</Info>
      <Product>{name}</Product>
      <Version>{version}</Version>
    </ProductSection>
    <OperatingSystemSection ovf:id="{cim_os}" vmw:osType="{vmw_os}">
      <Info>The guest operating system</Info>
      <Description>Debian GNU/Linux ({suite}, {arch})</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>{cpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{cpus}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory size</rasd:Description>
        <rasd:ElementName>{memory} MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{memory}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>{firmware}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#,
        disk = xml_escape(disk_name),
        capacity = spec.capacity,
        version = xml_escape(&spec.version),
        description = xml_escape(&spec.description),
        suite = xml_escape(&spec.suite),
        arch = xml_escape(&spec.arch),
        cpus = spec.cpus,
        memory = spec.memory_mib,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sparse VMDK whose descriptor has a CID of `cid_digits`, as qemu-img writes it.
    fn sparse_vmdk(cid: &str) -> Vec<u8> {
        let mut file = vec![0u8; 512 * 21];
        file[0..4].copy_from_slice(b"KDMV");
        file[28..36].copy_from_slice(&1u64.to_le_bytes());
        file[36..44].copy_from_slice(&20u64.to_le_bytes());
        let desc = format!(
            "# Disk DescriptorFile\nversion=1\nCID={cid}\nparentCID=ffffffff\ncreateType=\"monolithicSparse\"\n\nRW 4194304 SPARSE \"app.vmdk\"\n"
        );
        file[512..512 + desc.len()].copy_from_slice(desc.as_bytes());
        file
    }

    #[test]
    fn cid_is_replaced_whatever_its_width() {
        let dir = tempfile::tempdir().unwrap();
        let mut outputs = Vec::new();
        // qemu-img prints the random CID with %x: 8 digits, or fewer (1 in 16 disks).
        for (i, cid) in ["7a3f01c2", "b12c9", "0"].iter().enumerate() {
            let path = dir.path().join(format!("{i}.vmdk"));
            fs::write(&path, sparse_vmdk(cid)).unwrap();
            fix_vmdk_cid(&path, "seed").unwrap();
            let bytes = fs::read(&path).unwrap();
            assert_eq!(bytes.len(), 512 * 21, "the file keeps its size");
            assert_eq!(
                &bytes[..512],
                &sparse_vmdk(cid)[..512],
                "the header is untouched"
            );
            let text = String::from_utf8_lossy(&bytes[512..])
                .trim_end_matches('\0')
                .to_string();
            let cid_line = text.lines().find(|l| l.starts_with("CID=")).unwrap();
            assert_eq!(cid_line.len(), 12, "{cid_line}");
            assert!(text.contains("parentCID=ffffffff\ncreateType="), "{text}");
            assert!(text.ends_with("RW 4194304 SPARSE \"app.vmdk\"\n"), "{text}");
            outputs.push(bytes);
        }
        // Whatever qemu-img drew, the result is the same file.
        assert_eq!(outputs[0], outputs[1]);
        assert_eq!(outputs[1], outputs[2]);
    }

    #[test]
    fn a_file_that_is_not_a_sparse_vmdk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.vmdk");
        fs::write(&path, vec![0u8; 4096]).unwrap();
        let err = format!("{:#}", fix_vmdk_cid(&path, "seed").unwrap_err());
        assert!(err.contains("not a sparse VMDK extent"), "{err}");
        let mut bad = sparse_vmdk("12");
        let pos = bad.windows(5).position(|w| w == b"\nCID=").unwrap();
        bad[pos + 5] = b'z';
        fs::write(&path, &bad).unwrap();
        let err = format!("{:#}", fix_vmdk_cid(&path, "seed").unwrap_err());
        assert!(err.contains("unexpected VMDK descriptor"), "{err}");
    }

    fn spec() -> OvfSpec {
        OvfSpec {
            name: "app".into(),
            version: "1.0.0".into(),
            description: "a <small> & \"quoted\" app".into(),
            arch: "amd64".into(),
            suite: "bookworm".into(),
            capacity: 2 << 30,
            memory_mib: 1024,
            cpus: 2,
            uefi: true,
        }
    }

    #[test]
    fn descriptor_references_the_disk_and_escapes_text() {
        let x = ovf_descriptor(&spec(), "app-disk1.vmdk", 1234);
        assert!(x.contains(r#"<File ovf:id="file1" ovf:href="app-disk1.vmdk" ovf:size="1234"/>"#));
        assert!(x.contains(r#"ovf:fileRef="file1" ovf:capacity="2147483648""#));
        assert!(x.contains("a &lt;small&gt; &amp; &quot;quoted&quot; app"));
        assert!(x.contains(r#"vmw:value="efi""#));
        assert!(x.contains("debian12_64Guest"));
        let bios = ovf_descriptor(
            &OvfSpec {
                uefi: false,
                ..spec()
            },
            "d.vmdk",
            1,
        );
        assert!(!bios.contains("firmware"));
    }

    #[test]
    fn formats() {
        assert_eq!(DiskFormat::parse("qcow2"), Some(DiskFormat::Qcow2));
        assert_eq!(DiskFormat::parse("oci"), None);
        assert_eq!(DiskFormat::Ova.qemu_format(), None);
    }
}

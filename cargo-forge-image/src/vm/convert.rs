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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
fn fix_vmdk_cid(path: &Path, seed: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    // The descriptor is within the first 64 KiB (sparse extent: at sector 1; stream-optimised
    // too).
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut f, &mut head)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    head.truncate(n);
    let needle = b"\nCID=";
    let Some(pos) = head.windows(needle.len()).position(|w| w == needle) else {
        bail!("`{}` has no VMDK descriptor", path.display());
    };
    let start = pos + needle.len();
    if head.len() < start + 8 || !head[start..start + 8].iter().all(u8::is_ascii_hexdigit) {
        bail!("`{}` has an unexpected VMDK descriptor", path.display());
    }
    let d = Sha256::digest(format!("{seed}:vmdk-cid"));
    let cid = format!("{:08x}", u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
    f.seek(SeekFrom::Start(start as u64))?;
    f.write_all(cid.as_bytes())
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}

fn read_up_to(f: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
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

//! ELF facts of packaged binaries — the symbol versions they need, their build-id, their
//! interpreter and the shared libraries they need (forge-image's runtime layer uses these too) —
//! read with the `object` crate rather than by parsing `readelf` text (whose layout varies
//! between binutils versions and which may be missing for a target).
//!
//! Files are read through `object`'s `ReadCache`, which reads only the headers and sections it
//! is asked for, so memory does not grow with the size of the binary.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};
use object::read::elf::{ElfFile, FileHeader, ProgramHeader};
use object::{elf, Endianness, FileKind, Object, ReadCache, ReadRef};

/// What packaging needs to know of one ELF file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfFacts {
    /// The symbol version names of `.gnu.version_r` (needs) and `.gnu.version_d` (definitions),
    /// e.g. `GLIBC_2.34`.
    pub versions: Vec<String>,
    /// The GNU build-id, in lowercase hex as `readelf -n` prints it.
    pub build_id: Option<String>,
    /// The `PT_INTERP` program interpreter, e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interpreter: Option<String>,
    /// Whether the dynamic section has `DT_NEEDED` entries.
    pub has_needed: bool,
    /// The `DT_NEEDED` shared libraries, in order, e.g. `libc.so.6`.
    pub needed: Vec<String>,
    /// The version needs of `.gnu.version_r` with the library each is needed from, e.g.
    /// `("libc.so.6", "GLIBC_2.34")` (forge-rpm's `libc.so.6(GLIBC_2.34)(64bit)` requires).
    pub needed_versions: Vec<(String, String)>,
    /// Whether the file is a 64-bit ELF file (ELFCLASS64).
    pub is_64: bool,
    /// Whether the dynamic section has `DT_GNU_HASH` but no `DT_HASH` (rpm's `rtld(GNU_HASH)`).
    pub gnu_hash_only: bool,
}

impl ElfFacts {
    /// Whether the file is statically linked: no interpreter and no shared library needed.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && !self.has_needed
    }
}

/// Reads the facts of the ELF file at `path`.
pub fn read(path: &Path) -> Result<ElfFacts> {
    let file = File::open(path).with_context(|| format!("failed to open `{}`", path.display()))?;
    let cache = ReadCache::new(file);
    let facts = match FileKind::parse(&cache) {
        Ok(FileKind::Elf32) => facts::<elf::FileHeader32<Endianness>, _>(&cache),
        Ok(FileKind::Elf64) => {
            facts::<elf::FileHeader64<Endianness>, _>(&cache).map(|f| ElfFacts { is_64: true, ..f })
        }
        _ => bail!("`{}` is not an ELF file", path.display()),
    };
    facts.with_context(|| format!("`{}` is not a valid ELF file", path.display()))
}

fn facts<'data, Elf, R>(data: R) -> Result<ElfFacts>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let file = ElfFile::<Elf, R>::parse(data)?;
    let endian = file.endian();
    let sections = file.elf_section_table();
    let mut versions = Vec::new();
    let mut needed_versions = Vec::new();
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((need, mut aux)) = needs.next()? {
            let lib = String::from_utf8_lossy(need.file(endian, strings)?).into_owned();
            while let Some(a) = aux.next()? {
                let version = String::from_utf8_lossy(a.name(endian, strings)?).into_owned();
                needed_versions.push((lib.clone(), version.clone()));
                versions.push(version);
            }
        }
    }
    if let Some((mut defs, link)) = sections.gnu_verdef(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((_, mut aux)) = defs.next()? {
            while let Some(a) = aux.next()? {
                versions.push(String::from_utf8_lossy(a.name(endian, strings)?).into_owned());
            }
        }
    }
    let mut interpreter = None;
    for segment in file.elf_program_headers() {
        if let Some(i) = segment.interpreter(endian, data)? {
            interpreter = Some(String::from_utf8_lossy(i).into_owned());
        }
    }
    let mut needed = Vec::new();
    let (mut gnu_hash, mut hash) = (false, false);
    if let Some((entries, link)) = sections.dynamic(endian, data)? {
        use object::read::elf::Dyn;
        let strings = sections.strings(endian, data, link)?;
        for d in entries {
            gnu_hash |= d.tag32(endian) == Some(elf::DT_GNU_HASH);
            hash |= d.tag32(endian) == Some(elf::DT_HASH);
            if d.tag32(endian) == Some(elf::DT_NEEDED) {
                let offset: u64 = d.d_val(endian).into();
                let name = u32::try_from(offset)
                    .ok()
                    .and_then(|o| strings.get(o).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!("a needed library's name is outside the string table")
                    })?;
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok(ElfFacts {
        versions,
        build_id: file.build_id()?.map(hex::encode),
        interpreter,
        has_needed: !needed.is_empty(),
        needed,
        needed_versions,
        is_64: false,
        gnu_hash_only: gnu_hash && !hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts of a host binary agree with what `readelf` prints of it.
    #[test]
    fn facts_of_a_host_binary_match_readelf() {
        let ls = Path::new("/bin/ls");
        let f = read(ls).unwrap();
        assert!(!f.is_static());
        assert!(
            f.interpreter.as_deref().unwrap().contains("ld-linux"),
            "{f:?}"
        );
        assert!(
            f.versions.iter().any(|v| v.starts_with("GLIBC_2.")),
            "{f:?}"
        );
        assert!(f.needed.iter().any(|l| l == "libc.so.6"), "{f:?}");
        assert!(f.is_64 == cfg!(target_pointer_width = "64"), "{f:?}");
        // Debian links with --hash-style=gnu.
        assert!(f.gnu_hash_only, "{f:?}");
        assert!(
            f.needed_versions
                .iter()
                .any(|(lib, v)| lib == "libc.so.6" && v.starts_with("GLIBC_2.")),
            "{f:?}"
        );
        let Ok(readelf) = which::which("readelf") else {
            return;
        };
        let shell = forge_core::Shell::plain();
        let notes = forge_core::process::Cmd::new(&readelf)
            .arg("-n")
            .arg(ls)
            .read(&shell)
            .unwrap();
        let id = notes
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .map(str::to_string);
        assert_eq!(f.build_id, id);
        let v = forge_core::process::Cmd::new(&readelf)
            .args(["-V", "--wide"])
            .arg(ls)
            .read(&shell)
            .unwrap();
        let mut from_readelf: Vec<String> = v
            .split_whitespace()
            .filter(|w| w.starts_with("GLIBC_"))
            .map(str::to_string)
            .collect();
        from_readelf.sort();
        from_readelf.dedup();
        let mut ours = f.versions.clone();
        ours.retain(|v| v.starts_with("GLIBC_"));
        ours.sort();
        ours.dedup();
        assert_eq!(ours, from_readelf);
    }

    #[test]
    fn not_elf_is_an_error_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("script");
        std::fs::write(&p, "#!/bin/sh\necho hi\n").unwrap();
        let e = read(&p).unwrap_err();
        assert!(format!("{e:#}").contains("is not an ELF file"), "{e:#}");
    }
}

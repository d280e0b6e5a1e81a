//! Automatic `Requires` from the ELF files of a package, as rpmbuild's `elfdeps` writes them:
//! `libfoo.so.1()(64bit)` for each `DT_NEEDED` library and `libc.so.6(GLIBC_2.34)(64bit)` for
//! each symbol version needed from it (`GLIBC_PRIVATE` left out, as elfdeps does), the
//! `(64bit)` mark only on 64-bit files, and `rtld(GNU_HASH)` for a file with only a GNU hash
//! table (which an old dynamic loader could not read). Read with forge-deb's [`cargo_forge_deb::elf`] (the
//! `object` crate, headers only), not by running `ldd`, which cannot read foreign binaries.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

use crate::writer::Dependency;

/// Whether `path` starts with the ELF magic (so scripts and data files are skipped cheaply).
fn is_elf(path: &Path) -> Result<bool> {
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    let mut magic = [0u8; 4];
    Ok(f.read_exact(&mut magic).is_ok() && magic == *b"\x7fELF")
}

/// The requires of the ELF files among `files`, sorted and without duplicates.
pub fn elf_requires<'a>(files: impl IntoIterator<Item = &'a Path>) -> Result<Vec<Dependency>> {
    let mut names = BTreeSet::new();
    for path in files {
        if !is_elf(path)? {
            continue;
        }
        let facts = cargo_forge_deb::elf::read(path)?;
        names.extend(names_of(&facts));
    }
    Ok(names.into_iter().map(Dependency::any).collect())
}

/// The requires of one file's facts.
fn names_of(facts: &cargo_forge_deb::elf::ElfFacts) -> Vec<String> {
    let mark = if facts.is_64 { "(64bit)" } else { "" };
    let mut out: Vec<String> = facts
        .needed
        .iter()
        .map(|lib| format!("{lib}(){mark}"))
        .collect();
    out.extend(
        facts
            .needed_versions
            .iter()
            .filter(|(_, v)| v != "GLIBC_PRIVATE")
            .map(|(lib, v)| format!("{lib}({v}){mark}")),
    );
    if facts.gnu_hash_only {
        out.push("rtld(GNU_HASH)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_binary_requires_match_rpm_elfdeps_form() {
        let reqs = elf_requires([Path::new("/bin/ls"), Path::new("/etc/hostname")]).unwrap();
        let names: Vec<&str> = reqs.iter().map(|d| d.name.as_str()).collect();
        let mark = if cfg!(target_pointer_width = "64") {
            "(64bit)"
        } else {
            ""
        };
        assert!(
            names.contains(&format!("libc.so.6(){mark}").as_str()),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("libc.so.6(GLIBC_2.") && n.ends_with(&format!("){mark}"))),
            "{names:?}"
        );
        assert!(names.contains(&"rtld(GNU_HASH)"), "{names:?}");
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, names);
    }

    #[test]
    fn thirty_two_bit_files_have_no_mark() {
        let facts = cargo_forge_deb::elf::ElfFacts {
            needed: vec!["libc.so.6".into()],
            needed_versions: vec![
                ("libc.so.6".into(), "GLIBC_2.4".into()),
                ("libc.so.6".into(), "GLIBC_PRIVATE".into()),
            ],
            ..Default::default()
        };
        assert_eq!(names_of(&facts), ["libc.so.6()", "libc.so.6(GLIBC_2.4)"]);
    }
}

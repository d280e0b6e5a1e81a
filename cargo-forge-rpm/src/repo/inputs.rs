//! The packages given to an update, read and checked before anything is written
//! ([`read_inputs`]), copied into `Packages/` ([`copy_in`]), and the previous repository's
//! packages checked against the disk ([`recheck`]).

use super::*;

/// A package given to the update, checked and placed.
pub(super) struct Input {
    pub(super) path: PathBuf,
    pub(super) entry: Entry,
    /// Whether the repository already holds this very file.
    pub(super) already_present: bool,
}

/// The modification time of `meta` in seconds, clamped to `SOURCE_DATE_EPOCH` when set.
pub(super) fn file_time(meta: &std::fs::Metadata, sde: Option<u64>) -> u64 {
    let t = filetime::FileTime::from_last_modification_time(meta).unix_seconds();
    let t = u64::try_from(t).unwrap_or(0);
    match sde {
        Some(s) => t.min(s),
        None => t,
    }
}

/// `Packages/<first letter>/<name-version-release.arch.rpm>` (Fedora's layout).
pub(super) fn location(info: &RpmInfo) -> String {
    let first = info
        .name
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or('_');
    format!("Packages/{first}/{}", info.canonical_file_name())
}

/// Reads and checks the inputs (nothing is written).
pub(super) fn read_inputs(
    opts: &RepoOptions,
    entries: &BTreeMap<String, Entry>,
    shell: &Shell,
) -> Result<Vec<Input>> {
    let mut inputs: Vec<Input> = Vec::new();
    let mut by_location: BTreeMap<String, usize> = BTreeMap::new();
    let bar = (opts.rpms.len() > 50)
        .then(|| shell.progress_bar(opts.rpms.len() as u64, "Reading", false));
    for path in &opts.rpms {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        let meta = fsx::metadata(path)?;
        if !meta.is_file() {
            return Err(usage(format!("`{}` is not a file", path.display())))
                .hint("name the .rpm files to add");
        }
        let info = read_rpm(path)?;
        for part in [&info.name, &info.version, &info.release, &info.arch] {
            check_name_part(path, part)?;
        }
        let loc = location(&info);
        let size = meta.len();
        let time = file_time(&meta, opts.source_date_epoch);
        // Unchanged (createrepo_c --update's rule): same place, size and time; not hashed.
        if let Some(e) = entries.get(&loc) {
            if e.size == size && e.file_time == time {
                if by_location.contains_key(&loc) {
                    continue;
                }
                by_location.insert(loc, inputs.len());
                inputs.push(Input {
                    path: path.clone(),
                    entry: e.clone(),
                    already_present: true,
                });
                continue;
            }
        }
        let sha256 = hash_package(path, &info)?;
        if let Some(&i) = by_location.get(&loc) {
            let other = &inputs[i];
            if other.entry.pkgid != sha256 {
                return Err(usage(format!(
                    "`{}` and `{}` are different files for the same package {}",
                    other.path.display(),
                    path.display(),
                    info.nevra()
                )))
                .hint("add only one of them; a rebuilt package needs a new release number");
            }
            continue;
        }
        let dest = opts.dir.join(&loc);
        let existing = match entries.get(&loc) {
            Some(e) if dest.is_file() => Some(e.pkgid.clone()),
            _ if dest.exists() => Some(sha256_file(&dest)?),
            _ => None,
        };
        if let Some(existing) = &existing {
            if *existing != sha256 {
                return Err(usage(format!(
                    "`{}` is already in the repository as `{}` with different content; a \
                     published version must not change",
                    path.display(),
                    dest.display()
                )))
                .hint("give the package a new release number and publish that");
            }
        }
        if !info.signed && opts.sign_key.is_some() {
            shell.warn(format!(
                "`{}` is not signed: dnf with `gpgcheck=1` (what the .repo file asks) will refuse \
                 to install it; sign it with `rpmsign --addsign` (or build it with \
                 `cargo forge-rpm --sign`)",
                path.display()
            ));
        }
        let entry = super::xml::render(&info, &sha256, &loc, size, time);
        by_location.insert(loc, inputs.len());
        inputs.push(Input {
            path: path.clone(),
            entry,
            already_present: existing.is_some(),
        });
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(inputs)
}

/// A name, version, release or architecture that is safe as a part of a file name.
fn check_name_part(path: &Path, part: &str) -> Result<()> {
    let ok = !part.is_empty()
        && part != "."
        && part != ".."
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-~^".contains(c));
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "`{}` has a name, version, release or architecture (`{part}`) that cannot be part \
             of a file name",
            path.display()
        )))
        .hint("rebuild it with letters, digits and `._+-~^` only")
    }
}

/// Copies the new packages into `Packages/`, durably, before any metadata names them; the
/// copy's modification time is the one the metadata records.
pub(super) fn copy_in(dir: &Path, inputs: &[Input]) -> Result<()> {
    for input in inputs.iter().filter(|i| !i.already_present) {
        let dest = dir.join(&input.entry.location);
        let mut src = File::open(&input.path)
            .with_context(|| format!("failed to open `{}`", input.path.display()))?;
        let mut out = fsx::AtomicFile::create(&dest)?;
        std::io::copy(&mut src, &mut out).with_context(|| {
            format!(
                "failed to copy `{}` to `{}`",
                input.path.display(),
                dest.display()
            )
        })?;
        let t = filetime::FileTime::from_unix_time(input.entry.file_time as i64, 0);
        filetime::set_file_handle_times(out.file_mut(), None, Some(t))
            .with_context(|| format!("failed to set the time of `{}`", dest.display()))?;
        out.commit()?;
    }
    Ok(())
}

/// The previous packages not given again, checked against the disk by size and time: unchanged
/// ones keep their metadata as it is (not opened, not hashed), changed ones are read again,
/// vanished ones are dropped with a warning.
pub(super) fn recheck(
    opts: &RepoOptions,
    entries: &mut BTreeMap<String, Entry>,
    given: &BTreeSet<String>,
    shell: &Shell,
) -> Result<()> {
    let mut gone = Vec::new();
    for (loc, e) in entries.iter_mut() {
        if given.contains(loc) {
            continue;
        }
        let path = opts.dir.join(loc);
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => {
                shell.warn(format!(
                    "{} is listed in the repository but `{}` is gone; it leaves the metadata",
                    e.nevra(),
                    path.display()
                ));
                gone.push(loc.clone());
                continue;
            }
        };
        let time = file_time(&meta, opts.source_date_epoch);
        if meta.len() == e.size && time == e.file_time {
            continue;
        }
        shell.verbose_status("Rereading", format!("{} (changed on disk)", path.display()));
        let info = read_rpm(&path)?;
        if location(&info) != *loc {
            shell.warn(format!(
                "`{}` now holds {}; it leaves the metadata",
                path.display(),
                info.nevra()
            ));
            gone.push(loc.clone());
            continue;
        }
        let sha256 = hash_package(&path, &info)?;
        *e = super::xml::render(&info, &sha256, loc, meta.len(), time);
    }
    for loc in gone {
        entries.remove(&loc);
    }
    Ok(())
}

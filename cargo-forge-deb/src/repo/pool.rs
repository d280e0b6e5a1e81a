//! The pool: the packages given to an update read and checked ([`read_inputs`], nothing
//! written), copied durably into `pool/` before any index names them, and pruned once retention
//! removed them from every index of every suite.

use super::*;

/// A package given to the update, checked and placed.
pub(super) struct Input {
    /// The file given.
    pub(super) path: PathBuf,
    pub(super) stanza: RawStanza,
    /// Whether the pool already holds it.
    pub(super) already_present: bool,
}

/// Reads and checks the inputs (phase 1: nothing is written).
pub(super) fn read_inputs(
    opts: &RepoOptions,
    debs: &[PathBuf],
    component: &Component,
    shell: &Shell,
) -> Result<Vec<Input>> {
    let dir = &opts.dir;
    let by_basename = component.by_basename();
    let by_filename = component.by_filename();
    let mut inputs: Vec<Input> = Vec::new();
    let mut by_dest: BTreeMap<String, usize> = BTreeMap::new();
    let bar = (debs.len() > 50).then(|| shell.progress_bar(debs.len() as u64, "Reading", false));
    for deb in debs {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        // The cache: a stanza with this file name and size, and the same SHA-256.
        let cached = (|| {
            let name = deb.file_name()?.to_str()?;
            let key = by_basename.get(name)?;
            let stanza = component.stanzas.get(key)?;
            let size = std::fs::metadata(deb).ok()?.len();
            (stanza.size == Some(size)).then_some(stanza)
        })();
        if let Some(stanza) = cached {
            if sha256_file(deb)? == stanza.sha256 {
                if by_dest.contains_key(&stanza.filename) {
                    continue;
                }
                by_dest.insert(stanza.filename.clone(), inputs.len());
                inputs.push(Input {
                    path: deb.clone(),
                    stanza: stanza.clone(),
                    already_present: true,
                });
                continue;
            }
        }

        let info = read_deb(deb)?;
        let filename = format!(
            "{}/{}",
            pool_dir(&opts.component, info.source()),
            info.canonical_file_name()
        );
        if let Some(&i) = by_dest.get(&filename) {
            let other = &inputs[i];
            if other.stanza.sha256 != info.sha256 {
                return Err(usage(format!(
                    "`{}` and `{}` are different files for the same package {} {} ({})",
                    other.path.display(),
                    deb.display(),
                    info.package(),
                    info.version(),
                    info.architecture()
                )))
                .hint("add only one of them; a rebuilt package needs a new version (e.g. `--deb-revision 2`)");
            }
            continue;
        }
        let dest = dir.join(&filename);
        let existing = match by_filename.get(filename.as_str()) {
            Some(s) if dest.is_file() => Some(s.sha256.clone()),
            _ if dest.exists() => Some(hash_file(&dest)?.2),
            _ => None,
        };
        if let Some(existing) = &existing {
            if *existing != info.sha256 {
                return Err(usage(format!(
                    "`{}` is already in the repository as `{}` with different content; a published \
                     version must not change",
                    deb.display(),
                    dest.display()
                )))
                .hint(
                    "give the package a new version (e.g. a new Debian revision) and publish that",
                );
            }
        }
        let mut control = info.control.clone();
        control.set("Filename", filename.clone());
        control.set("Size", info.size.to_string());
        control.set("MD5sum", info.md5.clone());
        control.set("SHA256", info.sha256.clone());
        by_dest.insert(filename, inputs.len());
        inputs.push(Input {
            path: deb.clone(),
            stanza: RawStanza::from_paragraph(&control),
            already_present: existing.is_some(),
        });
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(inputs)
}

/// Up to this many new pool files are each flushed to disk as they are written; more are
/// flushed together by one `syncfs` (one flush per file costs milliseconds each).
pub(super) const SYNC_EACH_UP_TO: usize = 8;

/// Copies the new packages into the pool (phase 2), durably before any index names them.
pub(super) fn copy_to_pool(dir: &Path, inputs: &[Input]) -> Result<()> {
    let new: Vec<&Input> = inputs.iter().filter(|i| !i.already_present).collect();
    let sync_each = new.len() <= SYNC_EACH_UP_TO;
    for input in &new {
        let dest = dir.join(&input.stanza.filename);
        if sync_each {
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
            out.commit()?;
        } else {
            // A temporary name, renamed: never a partial file under the pool name.
            let parent = dest.parent().expect("pool files have a directory");
            fsx::create_dir_all(parent)?;
            let tmp = tempfile::Builder::new()
                .prefix(".forge-")
                .tempfile_in(parent)
                .with_context(|| {
                    format!(
                        "failed to create a temporary file in `{}`",
                        parent.display()
                    )
                })?
                .into_temp_path();
            std::fs::copy(&input.path, &tmp).with_context(|| {
                format!(
                    "failed to copy `{}` to `{}`",
                    input.path.display(),
                    dest.display()
                )
            })?;
            tmp.persist(&dest)
                .map_err(|e| e.error)
                .with_context(|| format!("failed to move a file to `{}`", dest.display()))?;
        }
    }
    if !sync_each {
        let root =
            File::open(dir).with_context(|| format!("failed to open `{}`", dir.display()))?;
        rustix::fs::syncfs(&root)
            .with_context(|| format!("failed to flush `{}` to disk", dir.display()))?;
    }
    Ok(())
}

/// Filenames the indexes of the other suites of `component` name (for pool pruning).
pub(super) fn named_by_other_suites(
    dir: &Path,
    suite: &str,
    component: &str,
) -> Result<BTreeSet<String>> {
    let mut named = BTreeSet::new();
    let dists = dir.join("dists");
    for other in sorted_subdirs(&dists)? {
        if other == suite {
            continue;
        }
        let comp_dir = dists.join(&other).join(component);
        for sub in sorted_subdirs(&comp_dir)? {
            if !sub.starts_with("binary-") {
                continue;
            }
            if let Some(text) = index::read_text(&comp_dir.join(&sub))? {
                named.extend(
                    text.lines()
                        .filter_map(|l| crate::deb822::field(l, "Filename"))
                        .map(str::to_string),
                );
            }
        }
    }
    Ok(named)
}

/// Deletes the pool files of stanzas retention removed, unless an index still names them.
pub(super) fn prune_pool(
    opts: &RepoOptions,
    removed: Vec<RawStanza>,
    component: &Component,
    shell: &Shell,
) -> Result<Vec<RemovedPackage>> {
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let mut named = named_by_other_suites(&opts.dir, &opts.suite, &opts.component)?;
    named.extend(component.stanzas.values().map(|s| s.filename.clone()));
    let mut out = Vec::new();
    for s in removed {
        let keep = named.contains(&s.filename);
        let path = opts.dir.join(&s.filename);
        let deleted = !keep
            && match std::fs::remove_file(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    shell.warn(format!("failed to delete `{}`: {e}", path.display()));
                    false
                }
            };
        if deleted {
            // Empty source and prefix directories go too (non-empty ones stay: the call fails).
            let mut parent = path.parent();
            for _ in 0..2 {
                match parent {
                    Some(p) if std::fs::remove_dir(p).is_ok() => parent = p.parent(),
                    _ => break,
                }
            }
        }
        shell.status(
            "Removed",
            format!(
                "{} {} ({}) from {}/{}{}",
                s.package,
                s.version,
                s.architecture,
                opts.suite,
                opts.component,
                if keep {
                    " (still in another suite's index)"
                } else {
                    ""
                }
            ),
        );
        out.push(RemovedPackage {
            package: s.package,
            version: s.version,
            architecture: s.architecture,
            filename: s.filename,
            deleted,
        });
    }
    Ok(out)
}

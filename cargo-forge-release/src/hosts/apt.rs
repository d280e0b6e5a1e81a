//! The `apt` host: the release's `.deb`s added to an APT repository, in a directory or in an
//! S3 bucket, with forge-deb's `repo` (which writes pool files and indexes first and
//! `Release`/`InRelease` last, so apt clients never see an index naming files that are not there).
//!
//! **On S3** (`url = "s3://bucket/prefix"`, with the `s3` host's `endpoint`, `region` and
//! `AWS_*` credentials) the repository is rebuilt in a local staging directory and uploaded in
//! the same order a directory update writes:
//!
//! 1. *Stage.* The suite's current indexes and Release files (`dists/<suite>/…`, except
//!    `by-hash/`) are downloaded, each with its ETag, so the update merges with them: earlier
//!    versions stay listed, as an APT repository accumulates versions. The pool is listed, not
//!    downloaded: every pool object becomes an empty placeholder (forge-deb's update only asks
//!    whether a listed file is still in the pool), except a pool object with the name of one of
//!    our packages, which must be the same bytes (checked by its recorded SHA-256, else read
//!    back) and is then staged as our file. Then `cargo_forge_deb::repo::update` runs on the
//!    staging directory.
//! 2. *Pool files* are uploaded create-if-absent (`prepare`: readers cannot see them before an
//!    index names them); an existing object with the same bytes is fine, other bytes an error.
//! 3. *Indexes*: first the `by-hash/SHA256/<digest>` copies (content-addressed, never replaced),
//!    then `Packages{,.gz,.xz}`, each only when it changed.
//! 4. *`Release`, `Release.gpg`, then `InRelease`* last: the commit point. A client holding the
//!    previous `InRelease` fetches indexes by hash (`Acquire-By-Hash: yes`), which are all still
//!    there.
//! 5. `by-hash` objects named by neither the new nor the previous Release are deleted (see
//!    below for what else is kept).
//!
//! **Concurrent releases** into one repository are supported. Every index and Release file is
//! written with a conditional write: `If-Match` on the ETag staging read, `If-None-Match: *`
//! when it did not exist. A release that loses a race (412) stops writing, waits a jittered
//! moment, and starts again at step 1 — downloading the indexes the other release wrote, so its
//! packages stay listed — up to 6 times (`MAX_ATTEMPTS`), saying so on the shell. Each index is
//! only ever replaced by a merge of what it held, so no package is dropped, and the Release a
//! reader sees names the indexes of the release that wrote it, which were written before it.
//! Pool files and by-hash copies need no condition (create-if-absent, content-addressed). The
//! by-hash clean-up never deletes what the Release and InRelease on S3 name when it runs (read
//! again), nor any object written after our Release (by the server's clock): a concurrent
//! release may be uploading copies its Release will name. A resumed run (`--resume`) stages
//! again from what the bucket holds, like a retry. (A directory repository is serialised by a
//! lock on the directory instead.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use object_store::UpdateVersion;

use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::http::RetryPolicy;
use forge_core::Shell;

use super::s3::S3Host;
use super::s3store::S3Store;
use super::{Host, HostState, Progress};
use crate::stage::{Asset, AssetKind, Staged};

/// Where the repository is.
pub enum AptTarget {
    /// A directory.
    Dir(PathBuf),
    /// A bucket and prefix.
    S3(Box<S3Host>),
}

/// An APT repository.
pub struct AptHost {
    pub target: AptTarget,
    pub suite: String,
    pub component: String,
    pub sign_key: Option<String>,
}

/// The state step of a finished repository update.
const STEP_REPO: &str = "repo";
/// The state step after the by-hash copies and indexes, before the Release files.
const STEP_INDEXES: &str = "indexes";
/// Data key prefix: pool objects this release created (removed by `--abort` before publishing).
const CREATED: &str = "created:";

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Result<(String, String)> {
    let rest = url.trim().strip_prefix("s3://").ok_or_else(|| {
        usage(format!(
            "invalid `url` `{url}` of the apt host: write it as `s3://bucket/prefix`"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(usage(format!(
            "invalid `url` `{url}` of the apt host: no bucket (write `s3://bucket/prefix`)"
        )));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// How many times a release re-reads and merges after another release updated the suite first.
const MAX_ATTEMPTS: u32 = 6;

/// Test hook: with `FORGE_TEST_APT_BARRIER=DIR`, the first staging of an S3 repository is
/// followed by a rendezvous — the process drops a file named after its pid in `DIR` and waits
/// (up to two minutes) until two are there — so that two releases started together both stage
/// the same suite and one of them must lose the conditional write. Unset (always, outside the
/// test suite) this does nothing.
fn test_barrier() {
    let Some(dir) = std::env::var_os("FORGE_TEST_APT_BARRIER") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _ = std::fs::write(dir.join(std::process::id().to_string()), b"");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < until {
        if std::fs::read_dir(&dir).map_or(0, |d| d.count()) >= 2 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The repository staged for an S3 upload.
struct S3Stage {
    dir: tempfile::TempDir,
    report: cargo_forge_deb::repo::RepoReport,
    /// Every `dists/` file as downloaded (relative path → SHA-256 and the version a conditional
    /// write names).
    downloaded: BTreeMap<String, (String, UpdateVersion)>,
    /// The digests the previous Release named (kept in `by-hash` for one more generation).
    previous: BTreeSet<String>,
}

/// A relative object path as a path under the staging directory (no `..`, no root).
fn local_path(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(anyhow!("unexpected object name `{rel}` in the repository"));
    }
    Ok(root.join(p))
}

/// The SHA-256 digests listed in a Release file.
fn release_digests(text: &str) -> BTreeSet<String> {
    cargo_forge_deb::repo::parse_paragraphs(text, "Release")
        .ok()
        .and_then(|p| p.into_iter().next())
        .and_then(|p| p.get("SHA256").map(str::to_string))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|d| d.len() == 64)
        .map(str::to_string)
        .collect()
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".xz") {
        "application/x-xz"
    } else if name.ends_with(".deb") {
        "application/vnd.debian.binary-package"
    } else {
        "text/plain"
    }
}

/// Files under `dir`, relative, sorted.
fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for e in
        std::fs::read_dir(dir).with_context(|| format!("failed to list `{}`", dir.display()))?
    {
        let e = e.with_context(|| format!("failed to list `{}`", dir.display()))?;
        let p = e.path();
        if p.is_dir() {
            files_under(&p, base, out)?;
        } else {
            let rel = p.strip_prefix(base).unwrap_or(&p);
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(())
}

impl AptHost {
    fn place(&self) -> String {
        match &self.target {
            AptTarget::Dir(d) => d.display().to_string(),
            AptTarget::S3(s3) => s3.place(),
        }
    }

    fn options(&self, dir: &Path, release: &Staged) -> cargo_forge_deb::repo::RepoOptions {
        cargo_forge_deb::repo::RepoOptions {
            dir: dir.to_path_buf(),
            suite: self.suite.clone(),
            component: self.component.clone(),
            origin: Some(release.package.clone()),
            label: Some(release.package.clone()),
            sign_key: self.sign_key.clone(),
            gpg_homedir: None,
            no_wait: false,
            keep: None,
        }
    }

    fn debs(release: &Staged) -> Vec<PathBuf> {
        release
            .assets_of(AssetKind::Deb)
            .map(|a| a.path.clone())
            .collect()
    }

    /// Step 1 of the module docs: the repository as it will be, in a staging directory.
    fn stage_s3(&self, s3: &S3Store, release: &Staged, shell: &Shell) -> Result<S3Stage> {
        let dir = tempfile::Builder::new()
            .prefix("forge-apt-")
            .tempdir()
            .context("failed to create a staging directory for the APT repository")?;
        let root = dir.path();
        let mut downloaded = BTreeMap::new();
        let mut previous = BTreeSet::new();
        let suite_dir = format!("dists/{}", self.suite);
        for meta in s3.list_all(&suite_dir)? {
            let key = meta.location.as_ref();
            let Some(rel) = s3.relative(key) else {
                continue;
            };
            if rel.split('/').any(|s| s == "by-hash") {
                continue;
            }
            let Some((bytes, version)) = s3.read_versioned(key)? else {
                continue;
            };
            if rel == format!("{suite_dir}/Release") {
                previous = release_digests(&String::from_utf8_lossy(&bytes));
            }
            downloaded.insert(
                rel.to_string(),
                (forge_core::digest::sha256_hex(&bytes), version),
            );
            forge_core::fsx::write_atomic(&local_path(root, rel)?, &bytes)?;
        }
        // Our packages by pool file name.
        let mut ours: BTreeMap<String, Asset> = BTreeMap::new();
        for a in release.assets_of(AssetKind::Deb) {
            let info = cargo_forge_deb::repo::read_deb(&a.path)?;
            ours.insert(info.canonical_file_name(), a.clone());
        }
        for meta in s3.list_all("pool")? {
            let key = meta.location.as_ref();
            let Some(rel) = s3.relative(key) else {
                continue;
            };
            let local = local_path(root, rel)?;
            let name = rel.rsplit('/').next().unwrap_or(rel);
            match ours.get(name) {
                // Published before (an earlier run, or another release of the same version):
                // it must be our file; a different one is a conflict naming the object.
                Some(a) if s3.check_existing(a, key, shell)? => {
                    forge_core::fsx::create_dir_all(local.parent().expect("has a parent"))?;
                    std::fs::copy(&a.path, &local).with_context(|| {
                        format!(
                            "failed to copy `{}` to `{}`",
                            a.path.display(),
                            local.display()
                        )
                    })?;
                }
                _ => forge_core::fsx::write_atomic(&local, b"")?,
            }
        }
        let report = cargo_forge_deb::repo::update(
            &self.options(root, release),
            &Self::debs(release),
            shell,
        )?;
        Ok(S3Stage {
            dir,
            report,
            downloaded,
            previous,
        })
    }

    /// Step 2: pool files, create-if-absent.
    fn upload_pool(
        &self,
        s3: &S3Store,
        stage: &S3Stage,
        progress: &mut Progress<'_>,
        shell: &Shell,
    ) -> Result<()> {
        let mut created = 0;
        for p in stage.report.added.iter().filter(|p| !p.already_present) {
            let local = local_path(stage.dir.path(), &p.filename)?;
            let asset = Asset::of_file(&local, AssetKind::Deb, None)?;
            let key = s3.key(&p.filename)?;
            if s3.put_new(&asset, &key, shell)? {
                created += 1;
                progress
                    .state
                    .data
                    .insert(format!("{CREATED}{key}"), p.sha256.clone());
                progress.save()?;
            }
        }
        if created > 0 {
            shell.status(
                "Uploaded",
                format!("{created} packages to the pool of {}", s3.place()),
            );
        }
        Ok(())
    }

    /// Steps 3–4: by-hash copies, indexes, Release files last, each index and Release file
    /// written only if it is still what staging read. `Lost(key)` when another release wrote
    /// `key` first: nothing this attempt wrote is named by a Release yet, and the caller stages
    /// again.
    fn upload_indexes(
        &self,
        s3: &S3Store,
        stage: &S3Stage,
        progress: &mut Progress<'_>,
        shell: &Shell,
    ) -> Result<Written> {
        let root = stage.dir.path();
        let suite_dir = format!("dists/{}", self.suite);
        let mut files = Vec::new();
        files_under(&root.join(&suite_dir), root, &mut files)?;
        let last = ["Release", "Release.gpg", "InRelease"].map(|n| format!("{suite_dir}/{n}"));
        let by_hash = |f: &String| f.split('/').any(|s| s == "by-hash");
        let mut sent = 0;
        // By-hash copies first (content-addressed: an existing one is the same bytes).
        for f in files.iter().filter(|f| by_hash(f)) {
            let asset = Asset::of_file(&local_path(root, f)?, AssetKind::Checksums, None)?;
            if s3.put_new(&asset, &s3.key(f)?, shell)? {
                sent += 1;
            }
        }
        // Then the indexes at their names, then the Release files, InRelease last.
        let middle: Vec<&String> = files
            .iter()
            .filter(|f| !by_hash(f) && !last.contains(f))
            .collect();
        let present: Vec<&String> = last.iter().filter(|f| files.contains(f)).collect();
        for (i, group) in [middle, present].into_iter().enumerate() {
            for f in group {
                let bytes = forge_core::fsx::read(&local_path(root, f)?)?;
                let read = stage.downloaded.get(f.as_str());
                if read.map(|(digest, _)| digest) == Some(&forge_core::digest::sha256_hex(&bytes)) {
                    continue;
                }
                let key = s3.key(f)?;
                let expected = read.map(|(_, version)| version.clone());
                let what = format!("write `{}`", s3.url(&key));
                if !s3.put_if(&key, bytes, content_type(f), expected, &what)? {
                    return Ok(Written::Lost(key));
                }
                sent += 1;
            }
            if i == 0 && !progress.is_done(STEP_INDEXES) {
                // Recorded for the log only: a resumed run stages again from what the bucket
                // holds and sends what differs.
                progress.done(STEP_INDEXES)?;
            }
        }
        // A signed repository published unsigned by an older tool: no stale signatures.
        if self.sign_key.is_none() {
            for n in ["Release.gpg", "InRelease"] {
                let f = format!("{suite_dir}/{n}");
                if stage.downloaded.contains_key(&f) && !files.contains(&f) {
                    s3.delete(&s3.key(&f)?)?;
                }
            }
        }
        Ok(Written::Done { sent })
    }

    /// Step 5: `by-hash` objects that no Release needs any more are deleted. Kept: what our
    /// Release names, what the one it replaced named, what the Release and InRelease on S3 name
    /// now (read again: another release may have committed since), and every object written
    /// since our Release (by the server's clock): a release that is uploading its by-hash copies
    /// right now has not committed a Release naming them yet.
    fn prune_by_hash(&self, s3: &S3Store, stage: &S3Stage) -> Result<usize> {
        let root = stage.dir.path();
        let suite_dir = format!("dists/{}", self.suite);
        let mut keep = stage.previous.clone();
        let ours = forge_core::fsx::read_to_string(&root.join(format!("{suite_dir}/Release")))?;
        keep.extend(release_digests(&ours));
        for n in ["Release", "InRelease"] {
            if let Some(now) = s3.read(&s3.key(&format!("{suite_dir}/{n}"))?)? {
                keep.extend(release_digests(&String::from_utf8_lossy(&now)));
            }
        }
        let Some(committed) = s3.head(&s3.key(&format!("{suite_dir}/Release"))?)? else {
            return Ok(0);
        };
        let mut pruned = 0;
        for meta in s3.list_all(&suite_dir)? {
            let key = meta.location.as_ref();
            let Some(rel) = s3.relative(key) else {
                continue;
            };
            let mut parts = rel.rsplit('/');
            let (name, parent) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if parent == "SHA256"
                && rel.contains("/by-hash/")
                && !keep.contains(name)
                && meta.last_modified < committed.last_modified
            {
                s3.delete(key)?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    /// Steps 1–5 on S3, again from step 1 (bounded, with jittered waits) whenever another
    /// release updated the suite between our staging and our Release.
    fn publish_s3(
        &self,
        s3: &S3Store,
        release: &Staged,
        progress: &mut Progress<'_>,
        shell: &Shell,
    ) -> Result<()> {
        let waits = RetryPolicy {
            attempts: MAX_ATTEMPTS,
            base: std::time::Duration::from_millis(300),
            cap: std::time::Duration::from_secs(5),
        };
        let mut lost = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            // Staged from what the bucket holds now, so a resumed or retried run merges with
            // the current indexes: the other release's packages stay listed.
            let stage = self.stage_s3(s3, release, shell)?;
            if attempt == 1 {
                test_barrier();
            }
            self.upload_pool(s3, &stage, progress, shell)?;
            match self.upload_indexes(s3, &stage, progress, shell)? {
                Written::Done { sent } => {
                    let pruned = self.prune_by_hash(s3, &stage)?;
                    shell.status(
                        "Published",
                        format!(
                            "APT repository {} {}/{} ({} files written{})",
                            s3.place(),
                            self.suite,
                            self.component,
                            sent,
                            if pruned > 0 {
                                format!(", {pruned} old by-hash files removed")
                            } else {
                                String::new()
                            }
                        ),
                    );
                    return Ok(());
                }
                Written::Lost(key) if attempt < MAX_ATTEMPTS => {
                    let wait = waits.backoff(attempt);
                    shell.status(
                        "Retrying",
                        format!(
                            "`{}` was updated by another release meanwhile: merging with it \
                             again in {:.1}s (attempt {} of {MAX_ATTEMPTS})",
                            s3.url(&key),
                            wait.as_secs_f64(),
                            attempt + 1
                        ),
                    );
                    std::thread::sleep(wait);
                }
                Written::Lost(key) => lost = key,
            }
        }
        Err(anyhow!(
            "failed to update the APT repository {}: `{}` kept changing while this release \
             wrote it ({MAX_ATTEMPTS} attempts)",
            s3.place(),
            s3.url(&lost)
        ))
        .kind(ErrorKind::Network)
        .hint(
            "other releases keep updating the suite; run the same command again (it resumes and \
             merges)",
        )
    }
}

/// How writing the indexes and Release files ended.
enum Written {
    /// All written; `sent` objects.
    Done { sent: usize },
    /// Another release wrote this object first.
    Lost(String),
}

impl Host for AptHost {
    fn id(&self) -> String {
        match &self.target {
            AptTarget::Dir(d) => format!("apt:{}", d.display()),
            AptTarget::S3(s3) => format!("apt:{}", s3.id()),
        }
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        // The plan is described before anything is staged: then the count is not known yet.
        let what = match release.assets_of(AssetKind::Deb).count() {
            0 => "the release's .deb packages".to_string(),
            1 => "1 package".to_string(),
            n => format!("{n} packages"),
        };
        let mut v = vec![format!(
            "add {what} to the APT repository {} ({} {})",
            self.place(),
            self.suite,
            self.component
        )];
        if let AptTarget::S3(_) = self.target {
            v.push("upload pool files, then indexes, then Release and InRelease last".to_string());
        }
        v
    }

    fn preflight(&self, release: &Staged, _state: &HostState, shell: &Shell) -> Result<()> {
        if release.assets_of(AssetKind::Deb).next().is_none() {
            return Err(usage(
                "an `apt` host needs packages: add \"deb\" to `artifacts`",
            ));
        }
        if let Some(k) = &self.sign_key {
            crate::artifacts::check_gpg_key(k, shell)?;
        }
        if let AptTarget::S3(host) = &self.target {
            let s3 = host.store();
            // Reachable, credentials accepted, bucket there.
            s3.list_all(&format!("dists/{}", self.suite))?;
        }
        Ok(())
    }

    fn prepare(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        let AptTarget::S3(host) = &self.target else {
            return Ok(());
        };
        let s3 = host.store();
        if progress.is_done(STEP_REPO) {
            return Ok(());
        }
        let stage = self.stage_s3(s3, release, shell)?;
        self.upload_pool(s3, &stage, progress, shell)
    }

    fn publish(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        if !progress.is_done(STEP_REPO) {
            match &self.target {
                AptTarget::Dir(dir) => {
                    cargo_forge_deb::repo::update(
                        &self.options(dir, release),
                        &Self::debs(release),
                        shell,
                    )?;
                }
                AptTarget::S3(host) => self.publish_s3(host.store(), release, progress, shell)?,
            }
            progress.state.done.insert(STEP_REPO.into());
        }
        progress.state.published = true;
        progress.save()
    }

    fn release_url(&self, _release: &Staged, state: &HostState) -> Option<String> {
        state.published.then(|| self.place())
    }

    fn rollback(&self, _release: &Staged, state: &mut HostState, shell: &Shell) -> Result<()> {
        // A directory is updated atomically in `publish` (Release last); old pool files stay, as
        // apt mirrors expect. On S3, pool objects this release created before any index named
        // them are removed.
        let AptTarget::S3(host) = &self.target else {
            return Ok(());
        };
        let s3 = host.store();
        if state.is_done(STEP_REPO) || state.published {
            return Ok(());
        }
        let created: Vec<String> = state
            .data
            .keys()
            .filter_map(|k| k.strip_prefix(CREATED).map(str::to_string))
            .collect();
        for key in &created {
            s3.delete(key)?;
            state.data.remove(&format!("{CREATED}{key}"));
        }
        if !created.is_empty() {
            shell.status(
                "Removed",
                format!(
                    "{} unpublished pool files from {}",
                    created.len(),
                    s3.place()
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(
            parse_s3_url("s3://bucket/apt/x/").unwrap(),
            ("bucket".into(), "apt/x".into())
        );
        assert_eq!(
            parse_s3_url("s3://bucket").unwrap(),
            ("bucket".into(), String::new())
        );
        for bad in ["bucket/apt", "https://x/y", "s3:///apt"] {
            let e = parse_s3_url(bad).unwrap_err();
            assert!(format!("{e}").contains("s3://bucket/prefix"), "{e}");
        }
    }

    #[test]
    fn staged_paths_stay_inside() {
        let root = Path::new("/stage");
        assert_eq!(
            local_path(root, "pool/main/a/a_1_all.deb").unwrap(),
            root.join("pool/main/a/a_1_all.deb")
        );
        for bad in ["", "../x", "pool/../../x", "/etc/passwd"] {
            assert!(local_path(root, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn release_digests_are_read() {
        let text = "Origin: x\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000001 10 main/binary-amd64/Packages\n 0000000000000000000000000000000000000000000000000000000000000002 5 main/binary-amd64/Packages.gz\n";
        assert_eq!(release_digests(text).len(), 2);
    }
}

//! The `s3` host: S3-compatible object storage (AWS S3, SeaweedFS, MinIO, R2…), written with
//! the `object_store` crate.
//!
//! **Layout.** Every asset goes to `<prefix>/<tag>/<name>`; then a release manifest
//! `<prefix>/<tag>/release.json` (package, version, tag, and every asset with its size and
//! SHA-256) is written once all assets are there; then — never for a pre-release —
//! `<prefix>/latest.json` (`<prefix>/<package>-latest.json` for a package with tags of its own)
//! is pointed at the tag, last. A reader that starts from `latest.json` or
//! a `release.json` therefore only ever finds complete releases: the rule of [`super`], nothing
//! half-done is visible.
//!
//! **Never overwrite.** Assets and manifests are written create-if-absent through the shared
//! [`S3Store`] (`If-None-Match: *`; an existing object is compared by size and SHA-256: identical
//! is a finished upload, different is an error naming the key). Uploading starts with one listing
//! of `<prefix>/<tag>/`, so a re-run that lost its state compares what is there instead of
//! sending it again. Multipart uploads (files above [`MULTIPART_THRESHOLD`]) complete
//! unconditionally, so for those a concurrent writer between the `HEAD` and the upload would
//! win: releases of one tag are not published concurrently.
//!
//! **`latest.json`** is the only object that is replaced: read, then written with `If-Match` on the
//! ETag read (or `If-None-Match: *` when there is none), so two releases racing cannot interleave;
//! and it never moves back to an older version (publishing a 1.4.1 fix after 1.5.0 leaves it at
//! 1.5.0, with a note).
//!
//! **State.** Steps `upload:NAME`, `manifest` and `latest` are recorded in the [`HostState`]; an
//! upload that created its object also records `created:NAME` → key, so `rollback` (`--abort`)
//! deletes exactly the objects this release wrote — and only while no `release.json` exists, so
//! a release readers can see is never touched, nor is `latest.json`.
//!
//! The store — client, credentials, retries, uploads, conditional writes — is [`super::s3store`],
//! shared with the `apt` host; this module is the release layout on top of it.

use std::fmt;

use anyhow::{anyhow, Result};
use object_store::path::Path as Key;
use serde::{Deserialize, Serialize};

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::http::HttpClient;
use forge_core::Shell;

pub use super::s3config::{
    retry_config, S3Config, S3Credentials, ACCESS_KEY_VAR, DEFAULT_REGION, SECRET_KEY_VAR,
    SESSION_TOKEN_VAR,
};
use super::s3store::Uploaded;
pub use super::s3store::{S3Store, MULTIPART_THRESHOLD, PART_SIZE};
use super::{Host, HostSpec, HostState, Progress};
use crate::stage::{Asset, AssetKind, Staged};

/// The release manifest, next to the assets.
pub const MANIFEST_NAME: &str = "release.json";

/// The pointer to the newest stable release, under the prefix.
pub const LATEST_NAME: &str = "latest.json";

/// State steps and data keys.
const STEP_MANIFEST: &str = "manifest";
const STEP_LATEST: &str = "latest";
const CREATED: &str = "created:";

/// The manifest written as `<prefix>/<tag>/release.json`. Its bytes depend only on the release,
/// so a re-run writes (and compares) the same document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub package: String,
    pub version: String,
    pub tag: String,
    pub prerelease: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub assets: Vec<ManifestAsset>,
}

/// One asset of [`Manifest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestAsset {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub kind: AssetKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Manifest {
    pub fn of(release: &Staged) -> Manifest {
        Manifest {
            package: release.package.clone(),
            version: release.version.clone(),
            tag: release.tag.clone(),
            prerelease: release.prerelease,
            commit: release.commit.clone(),
            assets: release
                .assets
                .iter()
                .map(|a| ManifestAsset {
                    name: a.name.clone(),
                    size: a.size,
                    sha256: a.sha256.clone(),
                    kind: a.kind,
                    target: a.target.clone(),
                })
                .collect(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        v.push(b'\n');
        v
    }
}

/// `<prefix>/latest.json`: the newest stable release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub package: String,
    pub version: String,
    pub tag: String,
    /// The key of its `release.json`.
    pub manifest: String,
}

impl Latest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a pointer serialises");
        v.push(b'\n');
        v
    }
}

/// An S3 bucket (and prefix) as a release host.
pub struct S3Host {
    store: S3Store,
}

impl fmt::Debug for S3Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Host")
            .field("store", &self.store)
            .finish()
    }
}

impl S3Host {
    /// A host for `config` with explicit credentials. `http` gives the run's retry policy and
    /// the plain-HTTP rule (loopback or `--insecure-registry` hosts only); its client is not used.
    pub fn new(config: S3Config, credentials: S3Credentials, http: &HttpClient) -> Result<S3Host> {
        Ok(S3Host {
            store: S3Store::new(config, credentials, http)?,
        })
    }

    /// A host for `config` with credentials from the environment ([`S3Credentials::from_vars`]).
    pub fn from_env(config: S3Config, http: &HttpClient) -> Result<S3Host> {
        S3Host::from_vars(config, http, |name| std::env::var(name).ok())
    }

    /// [`S3Host::from_env`] with the variables looked up by `var` (for tests).
    pub fn from_vars(
        config: S3Config,
        http: &HttpClient,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Host> {
        let credentials = S3Credentials::from_vars(var, &config.bucket)?;
        S3Host::new(config, credentials, http)
    }

    /// A host for an `s3` host table, credentials from the environment.
    pub fn from_spec(spec: &HostSpec, http: &HttpClient) -> Result<S3Host> {
        let config =
            S3Config::from_spec(spec).ok_or_else(|| anyhow!("not an s3 host table: {spec:?}"))?;
        S3Host::from_env(config, http)
    }
    /// The bucket and its objects (shared with the `apt` host).
    pub fn store(&self) -> &S3Store {
        &self.store
    }

    pub fn config(&self) -> &S3Config {
        self.store.config()
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        self.store.endpoint()
    }

    /// `<prefix>/<rest>`, validated as an object key.
    pub fn key(&self, rest: &str) -> Result<String> {
        self.store.key(rest)
    }

    /// `s3://bucket/key`.
    pub fn url(&self, key: &str) -> String {
        self.store.url(key)
    }

    /// `s3://bucket/prefix` and, for a custom endpoint, where.
    pub fn place(&self) -> String {
        self.store.place()
    }

    fn asset_key(&self, release: &Staged, name: &str) -> Result<String> {
        self.key(&format!("{}/{name}", release.tag))
    }

    fn manifest_key(&self, release: &Staged) -> Result<String> {
        self.key(&format!("{}/{MANIFEST_NAME}", release.tag))
    }

    /// `<prefix>/latest.json`, or `<prefix>/<package>-latest.json` for a package with tags of
    /// its own.
    fn latest_key(&self, release: &Staged) -> Result<String> {
        if release.latest == "latest" || release.latest.is_empty() {
            self.key(LATEST_NAME)
        } else {
            self.key(&format!("{}.json", release.latest))
        }
    }
    /// The objects under `<prefix>/<tag>/`, by name (one listing; also proves that the endpoint
    /// answers, the credentials are accepted and the bucket exists).
    fn list_release(&self, release: &Staged) -> Result<Vec<object_store::ObjectMeta>> {
        self.store.list_dir(&self.key(&release.tag)?)
    }

    fn name_of<'a>(&self, release: &Staged, meta: &'a object_store::ObjectMeta) -> Option<&'a str> {
        let key = meta.location.as_ref();
        let dir = self.key(&release.tag).ok()?;
        key.strip_prefix(&dir)?.strip_prefix('/')
    }
    /// Uploads the assets not recorded as done.
    fn upload_all(
        &self,
        release: &Staged,
        progress: &mut Progress<'_>,
        shell: &Shell,
    ) -> Result<()> {
        let todo: Vec<&Asset> = release
            .assets
            .iter()
            .filter(|a| !progress.is_done(&format!("upload:{}", a.name)))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        shell.status(
            "Uploading",
            format!("{} files to {}", todo.len(), self.place()),
        );
        // One listing, so that a re-run compares what is there instead of sending it again.
        let objects = self.list_release(release)?;
        let (mut created, mut existing) = (0, 0);
        for a in todo {
            let key = self.asset_key(release, &a.name)?;
            let listed = objects
                .iter()
                .any(|m| self.name_of(release, m) == Some(a.name.as_str()));
            shell.verbose_status(
                "Uploading",
                format!("`{}` ({} bytes)", self.url(&key), a.size),
            );
            match self.store.upload(a, &key, listed, shell)? {
                Uploaded::Created => {
                    created += 1;
                    progress
                        .state
                        .data
                        .insert(format!("{CREATED}{}", a.name), key);
                }
                Uploaded::Existing => {
                    existing += 1;
                    shell.verbose_status(
                        "Skipping",
                        format!("`{}` (already there)", self.url(&key)),
                    );
                }
            }
            progress.done(format!("upload:{}", a.name))?;
        }
        let mut msg = format!("{created} files to {}", self.place());
        if existing > 0 {
            msg.push_str(&format!(" ({existing} already there)"));
        }
        shell.status("Uploaded", msg);
        Ok(())
    }

    /// Checks with one listing that every asset is there with its size before the manifest
    /// makes the release visible; a missing one is forgotten in the state so a re-run uploads it.
    fn verify_uploaded(
        &self,
        release: &Staged,
        progress: &mut Progress<'_>,
    ) -> Result<Vec<object_store::ObjectMeta>> {
        let objects = self.list_release(release)?;
        let mut problems = Vec::new();
        for a in &release.assets {
            let found = objects
                .iter()
                .find(|m| self.name_of(release, m) == Some(a.name.as_str()));
            let problem = match found {
                None => Some(format!("`{}` is missing", a.name)),
                Some(m) if m.size != a.size => {
                    Some(format!("`{}` has {} bytes, not {}", a.name, m.size, a.size))
                }
                Some(_) => None,
            };
            if let Some(p) = problem {
                problems.push(p);
                progress.state.done.remove(&format!("upload:{}", a.name));
            }
        }
        if problems.is_empty() {
            return Ok(objects);
        }
        progress.save()?;
        Err(anyhow!(
            "{} does not hold release {} completely: {}; {MANIFEST_NAME} was not written",
            self.place(),
            release.tag,
            problems.join("; ")
        ))
        .kind(ErrorKind::Check)
        .hint("nothing was made visible; run the same command again to upload what is missing")
    }

    /// Points `latest.json` at the release unless it points at a newer one; compare-and-swap on
    /// the ETag so that a concurrent release cannot be overwritten unseen.
    fn point_latest(&self, release: &Staged, shell: &Shell) -> Result<()> {
        let key = self.latest_key(release)?;
        let ours = Latest {
            package: release.package.clone(),
            version: release.version.clone(),
            tag: release.tag.clone(),
            manifest: self.manifest_key(release)?,
        };
        let what = format!("point `{}` at {}", self.url(&key), release.tag);
        for _ in 0..3 {
            let current = self.store.read_versioned(&key)?;
            let expected = match current {
                None => None,
                Some((bytes, version)) => {
                    if let Ok(theirs) = serde_json::from_slice::<Latest>(&bytes) {
                        if theirs.tag == ours.tag && bytes == ours.to_bytes() {
                            return Ok(());
                        }
                        let newer = match (
                            semver::Version::parse(&theirs.version),
                            semver::Version::parse(&ours.version),
                        ) {
                            (Ok(t), Ok(o)) => t > o,
                            _ => false,
                        };
                        if newer {
                            shell.note(format!(
                                "`{}` points at {} ({}), newer than {}: left as it is",
                                self.url(&key),
                                theirs.tag,
                                theirs.version,
                                release.version
                            ));
                            return Ok(());
                        }
                    }
                    Some(version)
                }
            };
            // A pointer that moves: written with `no-cache`, caches must ask again. `false`:
            // someone else wrote it in between, look again.
            if self
                .store
                .put_if(&key, ours.to_bytes(), "application/json", expected, &what)?
            {
                return Ok(());
            }
        }
        Err(anyhow!(
            "failed to {what}: it kept changing while we wrote it (is another release running?)"
        ))
        .kind(ErrorKind::Network)
    }
}
impl Host for S3Host {
    fn id(&self) -> String {
        let mut id = match &self.store.config().endpoint {
            Some(e) => format!("s3:{e}/{}", self.store.config().bucket),
            None => format!("s3://{}", self.store.config().bucket),
        };
        if !self.store.config().prefix.is_empty() {
            id.push('/');
            id.push_str(&self.store.config().prefix);
        }
        id
    }

    fn describe(&self, release: &Staged) -> Vec<String> {
        let dir = self
            .key(&release.tag)
            .unwrap_or_else(|_| release.tag.clone());
        let mut v = vec![
            format!(
                "upload {} files to {}/",
                release.assets.len(),
                self.url(&dir)
            ),
            format!("write {}/{MANIFEST_NAME}", self.url(&dir)),
        ];
        if !release.prerelease {
            let latest = self
                .latest_key(release)
                .unwrap_or_else(|_| LATEST_NAME.into());
            v.push(format!(
                "point {} at {} unless it points at a higher version",
                self.url(&latest),
                release.tag
            ));
        }
        v
    }

    fn preflight(&self, release: &Staged, _state: &HostState, shell: &Shell) -> Result<()> {
        for a in &release.assets {
            self.asset_key(release, &a.name)?;
        }
        let manifest_key = self.manifest_key(release)?;
        self.latest_key(release)?;
        // Reachable, credentials accepted, bucket there.
        let objects = self.list_release(release)?;
        let by_name = |name: &str| {
            objects
                .iter()
                .find(|m| self.name_of(release, m) == Some(name))
        };
        if by_name(MANIFEST_NAME).is_some() {
            match self.store.get_bytes(&manifest_key)? {
                Some((bytes, _)) if bytes == Manifest::of(release).to_bytes() => {}
                Some(_) => {
                    return Err(anyhow!(
                        "`{}` already describes a different release {}",
                        self.url(&manifest_key),
                        release.tag
                    ))
                    .kind(ErrorKind::Check)
                    .hint("a published release is never changed: publish a new version")
                }
                None => {}
            }
        }
        for a in &release.assets {
            if by_name(&a.name).is_some() {
                self.store
                    .check_existing(a, &self.asset_key(release, &a.name)?, shell)?;
            }
        }
        Ok(())
    }

    fn prepare(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        self.upload_all(release, progress, shell)
    }

    fn publish(&self, release: &Staged, progress: &mut Progress<'_>, shell: &Shell) -> Result<()> {
        self.upload_all(release, progress, shell)?;
        let dir = self.key(&release.tag)?;
        if !progress.is_done(STEP_MANIFEST) {
            let objects = self.verify_uploaded(release, progress)?;
            let key = self.manifest_key(release)?;
            let what = format!("write `{}`", self.url(&key));
            let manifest = Manifest::of(release).to_bytes();
            let listed = objects
                .iter()
                .any(|m| self.name_of(release, m) == Some(MANIFEST_NAME));
            let outcome = match listed {
                // Compared, not sent again (a re-run that lost its state).
                true => match self.store.get_bytes(&key)? {
                    Some((bytes, _)) if bytes == manifest => Uploaded::Existing,
                    Some(_) => {
                        return Err(self.store.conflict(&key, "a different manifest".into()))
                    }
                    None => self.store.put_new_json(&key, manifest, &what)?,
                },
                false => self.store.put_new_json(&key, manifest, &what)?,
            };
            match outcome {
                Uploaded::Created => shell.status(
                    "Published",
                    format!(
                        "{}/ ({} files and {MANIFEST_NAME})",
                        self.url(&dir),
                        release.assets.len()
                    ),
                ),
                Uploaded::Existing => shell.status(
                    "Unchanged",
                    format!("{}/ (already published)", self.url(&dir)),
                ),
            }
            progress.done(STEP_MANIFEST)?;
        }
        if !release.prerelease && !progress.is_done(STEP_LATEST) {
            self.point_latest(release, shell)?;
            let latest = self.latest_key(release)?;
            shell.status(
                "Pointed",
                format!("{} at {}", self.url(&latest), release.tag),
            );
            progress.done(STEP_LATEST)?;
        }
        progress.state.published = true;
        progress.save()
    }

    fn release_url(&self, release: &Staged, state: &HostState) -> Option<String> {
        let dir = self.key(&release.tag).ok()?;
        state.published.then(|| format!("{}/", self.url(&dir)))
    }

    fn rollback(&self, release: &Staged, state: &mut HostState, shell: &Shell) -> Result<()> {
        let created: Vec<(String, String)> = state
            .data
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(CREATED).map(|n| (n.to_string(), v.clone())))
            .collect();
        if state.is_done(STEP_MANIFEST) || state.published {
            shell.note(format!(
                "release {} is published on {}: nothing is removed",
                release.tag,
                self.place()
            ));
            return Ok(());
        }
        if created.is_empty() {
            return Ok(());
        }
        // The state may lag behind the store (a manifest written, its step not saved): readers
        // could see the release, so nothing is removed.
        let manifest_key = self.manifest_key(release)?;
        if !self.store.is_absent(&manifest_key)? {
            shell.note(format!(
                "`{}` exists: release {} is visible, nothing is removed",
                self.url(&manifest_key),
                release.tag
            ));
            return Ok(());
        }
        let mut failures = Vec::new();
        let mut removed = 0;
        for (name, key) in created {
            Key::parse(&key).map_err(|e| anyhow!("invalid key `{key}` in the state file: {e}"))?;
            match self.store.delete(&key) {
                Ok(()) => {
                    removed += 1;
                    state.data.remove(&format!("{CREATED}{name}"));
                    state.done.remove(&format!("upload:{name}"));
                }
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        if removed > 0 {
            shell.status(
                "Removed",
                format!(
                    "{removed} unpublished objects of {} from {}",
                    release.tag,
                    self.place()
                ),
            );
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "could not remove {} unpublished objects: {}",
                failures.len(),
                failures.join("; ")
            ))
            .kind(ErrorKind::Network)
            .hint("they are not part of any visible release; a later run of the same release reuses them")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_core::http::RetryPolicy;

    fn http() -> HttpClient {
        HttpClient::new(RetryPolicy::new(6), vec!["minio.lan:9000".into()])
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn creds() -> Vec<(&'static str, &'static str)> {
        vec![
            (ACCESS_KEY_VAR, "AKIDFORGE"),
            (SECRET_KEY_VAR, "s3-secret-sentinel-4711"),
        ]
    }

    fn config(endpoint: Option<&str>, prefix: &str) -> S3Config {
        S3Config {
            bucket: "releases".into(),
            prefix: prefix.into(),
            endpoint: endpoint.map(Into::into),
            region: DEFAULT_REGION.into(),
        }
    }

    fn staged(prerelease: bool) -> Staged {
        Staged {
            package: "app".into(),
            version: "1.2.3".into(),
            tag: "v1.2.3".into(),
            prerelease,
            commit: Some("abc".into()),
            dir: "/tmp".into(),
            assets: vec![Asset {
                name: "app.tar.gz".into(),
                path: "/tmp/app.tar.gz".into(),
                size: 3,
                sha256: "00".repeat(32),
                kind: AssetKind::Archive,
                target: Some("x86_64-unknown-linux-gnu".into()),
            }],
            image: None,
            notes: "notes".into(),
            packages: vec!["app".into()],
            tag_template: "v{{version}}".into(),
            latest: "latest".into(),
            target: None,
        }
    }

    #[test]
    fn missing_credentials_name_the_variables() {
        let err = S3Host::from_vars(config(None, ""), &http(), vars(&[])).unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 2);
        assert_eq!(
            err.to_string(),
            "no s3 credentials to publish to bucket `releases`: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set"
        );
        let err = S3Host::from_vars(config(None, ""), &http(), vars(&[(ACCESS_KEY_VAR, "AKID")]))
            .unwrap_err();
        assert!(
            err.to_string().ends_with(": AWS_SECRET_ACCESS_KEY not set"),
            "{err}"
        );
        assert!(forge_core::exit::hints(&err)[0].contains("AWS_SESSION_TOKEN"));
    }

    #[test]
    fn credentials_stay_secret() {
        let host = S3Host::from_vars(
            config(Some("http://127.0.0.1:9"), "x"),
            &http(),
            vars(&creds()),
        )
        .unwrap();
        let shown = format!("{host:?}");
        assert!(!shown.contains("s3-secret-sentinel-4711"), "{shown}");
        assert_eq!(forge_core::secret::redact("s3-secret-sentinel-4711"), "***");
        let c = S3Credentials::from_vars(vars(&creds()), "b").unwrap();
        assert!(!format!("{c:?}").contains("sentinel"));
    }

    #[test]
    fn keys_and_ids() {
        let host = S3Host::from_vars(
            config(Some("http://127.0.0.1:8333/"), "/dist/app/"),
            &http(),
            vars(&creds()),
        )
        .unwrap();
        assert_eq!(host.config().prefix, "dist/app");
        assert_eq!(host.id(), "s3:http://127.0.0.1:8333/releases/dist/app");
        let r = staged(false);
        assert_eq!(
            host.asset_key(&r, "app.tar.gz").unwrap(),
            "dist/app/v1.2.3/app.tar.gz"
        );
        assert_eq!(
            host.manifest_key(&r).unwrap(),
            "dist/app/v1.2.3/release.json"
        );
        assert_eq!(host.latest_key(&r).unwrap(), "dist/app/latest.json");
        assert_eq!(
            host.describe(&r),
            [
                "upload 1 files to s3://releases/dist/app/v1.2.3/",
                "write s3://releases/dist/app/v1.2.3/release.json",
                "point s3://releases/dist/app/latest.json at v1.2.3 unless it points at a higher version",
            ]
        );
        assert_eq!(host.describe(&staged(true)).len(), 2);
        let aws = S3Host::from_vars(config(None, ""), &http(), vars(&creds())).unwrap();
        assert_eq!(aws.id(), "s3://releases");
        assert_eq!(aws.endpoint(), "https://s3.us-east-1.amazonaws.com");
        assert_eq!(aws.asset_key(&r, "a.deb").unwrap(), "v1.2.3/a.deb");
        assert!(aws.asset_key(&r, "..").is_err());
    }

    #[test]
    fn manifest_is_deterministic() {
        let r = staged(false);
        let a = Manifest::of(&r).to_bytes();
        assert_eq!(a, Manifest::of(&r.clone()).to_bytes());
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["tag"], "v1.2.3");
        assert_eq!(v["assets"][0]["sha256"], "00".repeat(32));
        assert_eq!(v["assets"][0]["size"], 3);
        assert_eq!(v["assets"][0]["kind"], "archive");
        // Notes are not part of it: editing them does not make a published release "different".
        let mut other = r.clone();
        other.notes = "changed".into();
        assert_eq!(Manifest::of(&other).to_bytes(), a);
    }
}

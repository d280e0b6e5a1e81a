//! Pushing: whole images, single platforms by digest (CI fan-out), and merging those into an
//! index (CI merge).
//!
//! Order, so that a reader never sees a tag on something incomplete: every blob (skipped when
//! the registry has it, mounted from the base's repository when on the same registry, uploaded
//! otherwise — several at a time), then platform manifests by digest, then the index by digest,
//! and the tags last, each a PUT of the same bytes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use forge_core::exit::{usage, ResultExt};
use forge_core::http::{HttpClient, RetryPolicy};
use forge_core::Shell;

use crate::image::{BuiltImage, PlatformImage};
use crate::oci::{BlobRef, Format, PlatformSpec};
use crate::registry::{Outcome, Reference, RegistryClient};

/// Concurrent blob uploads.
const PARALLEL_UPLOADS: usize = 4;

/// The HTTP client of a run.
pub fn client(retries: u32, insecure: &[String]) -> HttpClient {
    HttpClient::new(RetryPolicy::new(retries), insecure.to_vec())
}

/// Credentials for pushing to `registry`: `FORGE_REGISTRY_USERNAME`/`PASSWORD` apply to the
/// push target only (unless `FORGE_REGISTRY` names another), never to other registries.
pub fn push_credentials(registry: &str) -> crate::auth::Credentials {
    crate::auth::Credentials::from_env().env_registries(vec![registry.to_string()])
}

/// A client of the registry we push to, with the push credentials.
fn push_client(http: &HttpClient, registry: &str, shell: &Shell) -> Result<RegistryClient> {
    RegistryClient::new(http.clone(), registry, push_credentials(registry), shell)
}

/// The content of a `--digest-file`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    pub platform: PlatformSpec,
    /// `registry/repository`.
    pub repository: String,
    /// The image's annotations, so that `merge` writes the same index as a one-shot push.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Totals of a push, for the status line and tests.
#[derive(Default, Debug)]
struct Counts {
    skipped: usize,
    mounted: usize,
    uploaded: usize,
    bytes: u64,
}

fn push_blobs(
    client: &RegistryClient,
    repo: &str,
    platforms: &[&PlatformImage],
    shell: &Shell,
) -> Result<Counts> {
    // (digest → (body, mount source)), each once. Layers are streamed from their files.
    let mut blobs: BTreeMap<String, (forge_core::http::Body, Option<String>)> = BTreeMap::new();
    for p in platforms {
        let mount = p.base_repository.as_ref().and_then(|b| {
            let r = Reference::parse(b).ok()?;
            (r.registry == client.registry() && r.repository != repo).then_some(r.repository)
        });
        for l in &p.layers {
            if !blobs.contains_key(&l.blob_ref.digest) {
                blobs.insert(l.blob_ref.digest.clone(), (l.blob.body()?, mount.clone()));
            }
        }
        blobs
            .entry(p.config_ref.digest.clone())
            .or_insert((forge_core::http::Body::bytes(p.config.as_slice()), None));
    }
    type Work = Vec<(String, forge_core::http::Body, Option<String>)>;
    let work: Mutex<Work> = Mutex::new(blobs.into_iter().map(|(d, (b, m))| (d, b, m)).collect());
    let counts = Mutex::new(Counts::default());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_UPLOADS {
            s.spawn(|| loop {
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    return;
                }
                let Some((digest, body, mount)) = work.lock().ok().and_then(|mut w| w.pop()) else {
                    return;
                };
                let len = body.len();
                let bar = shell.progress_bar(len, short(&digest), true);
                let result =
                    client.push_blob(repo, &digest, body, mount.as_deref(), Some(&bar), shell);
                bar.finish_and_clear();
                match result {
                    Ok(outcome) => {
                        let mut c = counts.lock().expect("counts");
                        match outcome {
                            Outcome::Skipped => c.skipped += 1,
                            Outcome::Mounted => c.mounted += 1,
                            Outcome::Uploaded => {
                                c.uploaded += 1;
                                c.bytes += len;
                            }
                        }
                    }
                    Err(e) => {
                        let mut slot = first_error.lock().expect("error slot");
                        if slot.is_none() {
                            *slot = Some(e.context(format!("failed to push blob {digest}")));
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("error slot") {
        return Err(e);
    }
    Ok(counts.into_inner().expect("counts"))
}

fn short(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}

fn put_manifest_checked(
    client: &RegistryClient,
    repo: &str,
    reference: &str,
    r: &BlobRef,
    bytes: &[u8],
    shell: &Shell,
) -> Result<()> {
    let digest = client.put_manifest(repo, reference, &r.media_type, bytes, shell)?;
    if digest != r.digest {
        bail!(
            "registry {} answered digest {digest} for manifest {} of {repo}",
            client.registry(),
            r.digest
        );
    }
    Ok(())
}

/// The references of `tags` to push now: fixed ones all, moving ones (in `tracks`) only when
/// `version` is the highest of their line among the versions their repository holds (its tag
/// list, read once per repository); each one held back is noted.
pub fn tags_that_move(
    http: &HttpClient,
    tags: &[String],
    tracks: &BTreeMap<String, crate::tags::Track>,
    version: &semver::Version,
    shell: &Shell,
) -> Result<Vec<String>> {
    let mut held: BTreeMap<(String, String), Vec<semver::Version>> = BTreeMap::new();
    let mut out = Vec::new();
    for t in tags {
        let Some(track) = tracks.get(t).copied() else {
            out.push(t.clone());
            continue;
        };
        let r = Reference::parse(t)?;
        let key = (r.registry.clone(), r.repository.clone());
        if !held.contains_key(&key) {
            let client = push_client(http, &r.registry, shell)?;
            let versions = crate::tags::held_versions(&client.list_tags(&r.repository, shell)?);
            held.insert(key.clone(), versions);
        }
        if crate::tags::moves(track, version, &held[&key]) {
            out.push(t.clone());
        } else {
            let newer = held[&key]
                .iter()
                .filter(|h| h.pre.is_empty() && *h > version)
                .max()
                .map(|h| h.to_string())
                .unwrap_or_default();
            shell.note(format!(
                "`{t}` stays where it is: {}/{} holds {newer}, newer than {version} on its line",
                r.registry, r.repository
            ));
        }
    }
    Ok(out)
}

/// Pushes an image and tags it with every reference. Returns `ref@digest` per tag.
pub fn push_image(
    http: &HttpClient,
    image: &BuiltImage,
    tags: &[String],
    shell: &Shell,
) -> Result<Vec<String>> {
    let mut by_repo: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for t in tags {
        let r = Reference::parse(t)?;
        let tag = r
            .tag
            .clone()
            .ok_or_else(|| usage(format!("`{t}` has no tag")))?;
        by_repo
            .entry((r.registry.clone(), r.repository.clone()))
            .or_default()
            .push(tag);
    }
    let (top_bytes, top_ref) = image.top();
    let mut out = Vec::new();
    for ((registry, repo), repo_tags) in by_repo {
        let client = push_client(http, &registry, shell)?;
        shell.status(
            "Pushing",
            format!("{registry}/{repo} ({})", short(&top_ref.digest)),
        );
        let platforms: Vec<&PlatformImage> = image.platforms.iter().collect();
        let counts = push_blobs(&client, &repo, &platforms, shell)?;
        for p in &image.platforms {
            put_manifest_checked(
                &client,
                &repo,
                &p.manifest_ref.digest,
                &p.manifest_ref,
                &p.manifest,
                shell,
            )?;
        }
        if let Some((bytes, r)) = &image.index {
            put_manifest_checked(&client, &repo, &r.digest, r, bytes, shell)?;
        }
        for tag in &repo_tags {
            put_manifest_checked(&client, &repo, tag, top_ref, top_bytes, shell)?;
            out.push(format!("{registry}/{repo}:{tag}@{}", top_ref.digest));
        }
        shell.status(
            "Pushed",
            format!(
                "{registry}/{repo}:{} ({} uploaded, {} bytes; {} already there; {} mounted)",
                repo_tags.join(","),
                counts.uploaded,
                counts.bytes,
                counts.skipped,
                counts.mounted
            ),
        );
    }
    Ok(out)
}

/// Pushes the single platform of `image` untagged.
pub fn push_by_digest(
    http: &HttpClient,
    image: &BuiltImage,
    repository: &str,
    shell: &Shell,
) -> Result<DigestFile> {
    let r = Reference::parse(repository)?;
    let p = image.platforms.first().context("no platform built")?;
    let client = push_client(http, &r.registry, shell)?;
    shell.status(
        "Pushing",
        format!(
            "{}/{} {} by digest",
            r.registry,
            r.repository,
            p.platform.display()
        ),
    );
    push_blobs(&client, &r.repository, &[p], shell)?;
    put_manifest_checked(
        &client,
        &r.repository,
        &p.manifest_ref.digest,
        &p.manifest_ref,
        &p.manifest,
        shell,
    )?;
    Ok(DigestFile {
        digest: p.manifest_ref.digest.clone(),
        size: p.manifest_ref.size,
        media_type: p.manifest_ref.media_type.clone(),
        platform: p.platform.clone(),
        repository: format!("{}/{}", r.registry, r.repository),
        annotations: image.annotations.clone(),
    })
}

/// Builds the index bytes from digest files (checked to exist in the registry).
pub fn merge(
    http: &HttpClient,
    files: &[DigestFile],
    annotations: &BTreeMap<String, String>,
    shell: &Shell,
) -> Result<(String, String, Vec<u8>, BlobRef)> {
    let first = files.first().context("no digest files")?;
    let repository = &first.repository;
    let r = Reference::parse(repository)?;
    let client = push_client(http, &r.registry, shell)?;
    let mut format = None;
    let mut entries = Vec::new();
    let mut seen = Vec::new();
    for f in files {
        if &f.repository != repository {
            return Err(usage(format!("digest files name different repositories (`{}` and `{}`): merge one repository at a time", f.repository, repository)));
        }
        if seen.contains(&f.platform) {
            return Err(usage(format!(
                "two digest files for platform {}",
                f.platform.display()
            )));
        }
        seen.push(f.platform.clone());
        let fmt = Format::of_media_type(&f.media_type).ok_or_else(|| {
            usage(format!(
                "unknown manifest media type `{}` in a digest file",
                f.media_type
            ))
        })?;
        if *format.get_or_insert(fmt) != fmt {
            return Err(usage("digest files mix OCI and Docker manifests: an index must not mix them; build all platforms with the same `--format`"));
        }
        let (digest, size, media_type) = client
            .head_manifest(&r.repository, &f.digest, &[f.media_type.as_str()], shell)?
            .with_context(|| {
                format!(
                    "manifest {} for {} is not in {repository}: was `--push-by-digest` run?",
                    f.digest,
                    f.platform.display()
                )
            })?;
        if digest != f.digest || size != f.size || media_type != f.media_type {
            bail!("manifest {} in {repository} does not match its digest file (size {size}, type {media_type})", f.digest);
        }
        entries.push((
            BlobRef {
                digest: f.digest.clone(),
                size: f.size,
                media_type: f.media_type.clone(),
            },
            f.platform.clone(),
        ));
    }
    // Stable order, whatever order the CI jobs finished in.
    entries.sort_by_key(|e| e.1.display());
    let format = format.expect("at least one file");
    let bytes = crate::oci::index(format, &entries, annotations)?;
    let r2 = BlobRef::of_bytes(&bytes, format.index());
    Ok((r.registry, r.repository, bytes, r2))
}

/// Joins pushed platform manifests (`files`) into an index, pushes it by digest, then tags it
/// with `tags` (full references in the files' repository): fixed ones all, moving ones (in
/// `tracks`) only when `version` is the highest of their line ([`tags_that_move`]). Returns the
/// index digest and the references tagged (`ref@digest`).
pub fn merge_and_tag(
    http: &HttpClient,
    files: &[DigestFile],
    annotations: &BTreeMap<String, String>,
    tags: &[String],
    tracks: &BTreeMap<String, crate::tags::Track>,
    version: &semver::Version,
    shell: &Shell,
) -> Result<(String, Vec<String>)> {
    let (registry, repo, bytes, r) = merge(http, files, annotations, shell)?;
    let client = push_client(http, &registry, shell)?;
    put_manifest_checked(&client, &repo, &r.digest, &r, &bytes, shell)?;
    let mut pushed = Vec::new();
    for t in tags_that_move(http, tags, tracks, version, shell)? {
        let tr = Reference::parse(&t)?;
        if tr.registry != registry || tr.repository != repo {
            return Err(usage(format!(
                "`{t}` is not in {registry}/{repo}, where the platform images are"
            )));
        }
        let tag = tr.tag.ok_or_else(|| usage(format!("`{t}` has no tag")))?;
        put_manifest_checked(&client, &repo, &tag, &r, &bytes, shell)?;
        pushed.push(format!("{registry}/{repo}:{tag}@{}", r.digest));
    }
    Ok((r.digest, pushed))
}

/// `cargo forge-image merge`.
pub fn merge_command(args: &crate::cli::MergeArgs, shell: &Shell) -> Result<()> {
    let http = client(
        args.network.attempts(None)?,
        &args.network.insecure_registries,
    );
    let mut files = Vec::new();
    for path in &args.digest_files {
        let bytes = forge_core::fsx::read(path)?;
        let f: DigestFile = serde_json::from_slice(&bytes)
            .with_context(|| {
                format!(
                    "`{}` is not a digest file written by `--push-by-digest`",
                    path.display()
                )
            })
            .kind(forge_core::ErrorKind::Usage)?;
        files.push(f);
    }
    // The annotations every platform agrees on (all of them, when built from one commit).
    let mut annotations = files
        .first()
        .map(|f| f.annotations.clone())
        .unwrap_or_default();
    for f in &files[1..] {
        annotations.retain(|k, v| f.annotations.get(k) == Some(v));
    }
    let (registry, repo, bytes, r) = merge(&http, &files, &annotations, shell)?;
    let client = push_client(&http, &registry, shell)?;
    put_manifest_checked(&client, &repo, &r.digest, &r, &bytes, shell)?;
    // Moving tags (`latest`, `MAJOR`, `MAJOR.MINOR` of the image's version) follow the rule of
    // `--push`: only for the highest version of their line.
    let version = annotations
        .get("org.opencontainers.image.version")
        .and_then(|v| semver::Version::parse(v).ok());
    let tags: Vec<String> = match &version {
        Some(version) => {
            let tracks: BTreeMap<String, crate::tags::Track> = args
                .tags
                .iter()
                .filter_map(|t| {
                    let tag = Reference::parse(t).ok()?.tag?;
                    let track = crate::tags::track_of_tag(&tag, version);
                    (track != crate::tags::Track::Fixed).then(|| (t.clone(), track))
                })
                .collect();
            tags_that_move(&http, &args.tags, &tracks, version, shell)?
        }
        None => args.tags.clone(),
    };
    let mut pushed = Vec::new();
    for t in &tags {
        let tr = Reference::parse(t)?;
        if tr.registry != registry || tr.repository != repo {
            return Err(usage(format!(
                "`--tag {t}` is not in {registry}/{repo}, where the platform images are"
            )));
        }
        let tag = tr
            .tag
            .ok_or_else(|| usage(format!("`--tag {t}` has no tag")))?;
        put_manifest_checked(&client, &repo, &tag, &r, &bytes, shell)?;
        pushed.push(format!("{registry}/{repo}:{tag}@{}", r.digest));
    }
    crate::ops::report_gha_merge(
        &files,
        &format!("{registry}/{repo}"),
        &r.digest,
        &tags,
        &pushed,
        shell,
    )?;
    shell.status(
        "Merged",
        format!(
            "{} platforms into {registry}/{repo}@{}",
            files.len(),
            r.digest
        ),
    );
    if shell.is_json() {
        shell.json(&crate::json::MergeDocument {
            digest: r.digest.clone(),
            pushed,
        })?;
    } else {
        for p in pushed {
            shell.data(p);
        }
    }
    Ok(())
}

/// An image read back from an OCI layout, ready to push: blobs by digest (files in the layout)
/// and manifests (bytes).
pub struct LayoutImage {
    /// The top document (index or manifest): bytes and reference.
    pub top: (Vec<u8>, BlobRef),
    /// Platform manifests under an index (empty when the top is a manifest).
    pub manifests: Vec<(Vec<u8>, BlobRef)>,
    /// Config and layer blobs: (digest, path).
    pub blobs: Vec<(String, std::path::PathBuf)>,
}

/// Reads the image named `tag` from an OCI layout written by `--output oci:DIR`.
pub fn read_layout(dir: &std::path::Path, tag: &str) -> Result<LayoutImage> {
    let blob_path = |d: &str| -> Result<std::path::PathBuf> {
        if !forge_core::digest::is_sha256_digest(d) {
            bail!(
                "OCI layout `{}` names the blob {d:?}, which is not a sha256 digest",
                dir.display()
            );
        }
        Ok(dir
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:")))
    };
    let read_verified = |d: &str| -> Result<Vec<u8>> {
        let bytes = forge_core::fsx::read(&blob_path(d)?)?;
        if format!("sha256:{}", forge_core::digest::sha256_hex(&bytes)) != d {
            bail!("blob {d} in `{}` is corrupt", dir.display());
        }
        Ok(bytes)
    };
    let index: serde_json::Value =
        serde_json::from_slice(&forge_core::fsx::read(&dir.join("index.json"))?)
            .with_context(|| format!("`{}` is not an OCI layout", dir.display()))?;
    let desc = index["manifests"]
        .as_array()
        .and_then(|ms| {
            ms.iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        })
        .with_context(|| format!("OCI layout `{}` has no image `{tag}`", dir.display()))?;
    let top_ref = BlobRef {
        digest: desc["digest"]
            .as_str()
            .context("descriptor without digest")?
            .to_string(),
        size: desc["size"].as_u64().context("descriptor without size")?,
        media_type: desc["mediaType"]
            .as_str()
            .context("descriptor without mediaType")?
            .to_string(),
    };
    let top_bytes = read_verified(&top_ref.digest)?;
    let mut manifests = Vec::new();
    let mut manifest_docs = Vec::new();
    if top_ref.media_type.contains("index") || top_ref.media_type.contains("list") {
        let idx: serde_json::Value = serde_json::from_slice(&top_bytes)?;
        for m in idx["manifests"].as_array().cloned().unwrap_or_default() {
            let r = BlobRef {
                digest: m["digest"]
                    .as_str()
                    .context("descriptor without digest")?
                    .to_string(),
                size: m["size"].as_u64().unwrap_or(0),
                media_type: m["mediaType"].as_str().unwrap_or_default().to_string(),
            };
            let bytes = read_verified(&r.digest)?;
            manifest_docs.push(serde_json::from_slice::<serde_json::Value>(&bytes)?);
            manifests.push((bytes, r));
        }
    } else {
        manifest_docs.push(serde_json::from_slice::<serde_json::Value>(&top_bytes)?);
    }
    let mut blobs = Vec::new();
    for m in &manifest_docs {
        let mut digests = vec![m["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string()];
        digests.extend(
            m["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["digest"].as_str().map(String::from)),
        );
        for d in digests {
            if !blobs.iter().any(|(b, _)| *b == d) {
                let p = blob_path(&d)?;
                if !p.is_file() {
                    bail!("OCI layout `{}` lacks blob {d}", dir.display());
                }
                blobs.push((d, p));
            }
        }
    }
    Ok(LayoutImage {
        top: (top_bytes, top_ref),
        manifests,
        blobs,
    })
}

/// Pushes a layout image's blobs and manifests by digest (no tag): invisible to tag readers.
pub fn push_layout_untagged(
    http: &HttpClient,
    image: &LayoutImage,
    repository: &str,
    shell: &Shell,
) -> Result<()> {
    let r = Reference::parse(repository)?;
    let client = push_client(http, &r.registry, shell)?;
    shell.status(
        "Pushing",
        format!(
            "{}/{} ({}, untagged)",
            r.registry,
            r.repository,
            short(&image.top.1.digest)
        ),
    );
    for (digest, path) in &image.blobs {
        let body = forge_core::http::Body::file(path)?;
        client.push_blob(&r.repository, digest, body, None, None, shell)?;
    }
    for (bytes, m) in &image.manifests {
        put_manifest_checked(&client, &r.repository, &m.digest, m, bytes, shell)?;
    }
    put_manifest_checked(
        &client,
        &r.repository,
        &image.top.1.digest,
        &image.top.1,
        &image.top.0,
        shell,
    )
}

/// Tags an already-pushed image (the last step of a release on a registry).
pub fn tag_pushed(
    http: &HttpClient,
    image: &LayoutImage,
    repository: &str,
    tags: &[String],
    shell: &Shell,
) -> Result<Vec<String>> {
    let r = Reference::parse(repository)?;
    let client = push_client(http, &r.registry, shell)?;
    let mut out = Vec::new();
    for tag in tags {
        put_manifest_checked(
            &client,
            &r.repository,
            tag,
            &image.top.1,
            &image.top.0,
            shell,
        )?;
        out.push(format!(
            "{}/{}:{tag}@{}",
            r.registry, r.repository, image.top.1.digest
        ));
    }
    Ok(out)
}

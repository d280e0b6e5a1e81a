//! Base images: resolved by tag once (HEAD), fetched by digest, cached by digest.
//!
//! The base's index (or manifest) is resolved with one HEAD of its tag (free on Docker Hub's pull
//! limits) and fetched by digest; the platform's manifest, config and layers come by digest and
//! are kept in a content-addressed cache (`$XDG_CACHE_HOME/cargo-forge/blobs/sha256/…`,
//! `FORGE_BLOB_CACHE`), so a base is downloaded once per machine, verified by SHA-256. Layers
//! that come from the registry we push to are not downloaded at all when pushing: they are
//! mounted across repositories.
//!
//! A registry is untrusted input. Every digest it names is checked to be `sha256:` and 64
//! lowercase hex digits before it becomes part of a URL or a path (a "digest" of
//! `sha256:/some/dir` names a directory, not a blob), and all of a manifest's digests are checked
//! before its first blob is fetched, so a bad one is refused before anything is written. The
//! index, manifests and the config are read up to a size limit, blobs up to the size their
//! descriptor gives; each layer is streamed from the cache through [`crate::layer::verify`]
//! (paths and entry types as the OCI spec allows, inflated size and entry count bounded, its
//! `diff_id` checked against the config's). The limits are `[package.metadata.forge.image.limits]`
//! ([`crate::config::ImageLimits`]); an error names the limit and the key that raises it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::Shell;

use crate::config::{human_size, ImageLimits, LIMITS_TABLE};
use crate::layer::{BlobFile, Layer};
use crate::oci::{BlobRef, Format, PlatformSpec, RuntimeConfig};
use crate::registry::{Reference, RegistryClient};

/// A pulled base image, for one platform.
pub struct BaseImage {
    pub layers: Vec<Layer>,
    pub history: Vec<serde_json::Value>,
    /// `registry/repository` of the base (for cross-repository mounts).
    pub repository: String,
    pub runtime: RuntimeConfig,
    /// The digest the base reference resolved to (index or manifest).
    pub index_digest: String,
}

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The blob cache directory.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FORGE_BLOB_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("cargo-forge/blobs")
}

/// The error for something a registry sent that we refuse (exit code 4).
fn refused(reference: &str, why: impl std::fmt::Display) -> anyhow::Error {
    forge_core::exit::with_kind(
        anyhow::anyhow!("base image `{reference}` is refused: {why}"),
        ErrorKind::Check,
    )
}

/// The error for a limit of `[package.metadata.forge.image.limits]` that was exceeded.
fn over_limit(reference: &str, what: &str, limit: u64, key: &str) -> anyhow::Error {
    forge_core::exit::with_hint(
        refused(
            reference,
            format!(
                "{what} is larger than {}, the limit `{LIMITS_TABLE}.{key}`",
                human_size(limit)
            ),
        ),
        format!(
            "if you trust this image, raise `{key}` in [{LIMITS_TABLE}] of Cargo.toml, e.g. \
             `{key} = \"{}\"`",
            human_size(limit.saturating_mul(4))
        ),
    )
}

/// Checks that a registry-supplied digest may be used in a URL and a path.
fn checked_digest<'a>(reference: &str, what: &str, digest: Option<&'a str>) -> Result<&'a str> {
    match digest {
        Some(d) if forge_core::digest::is_sha256_digest(d) => Ok(d),
        Some(d) => Err(refused(
            reference,
            format!(
                "{what} has the digest {d:?}, which is not `sha256:` and 64 lowercase hex digits"
            ),
        )),
        None => Err(refused(reference, format!("{what} has no digest"))),
    }
}

/// A blob of the base in the cache, downloaded when missing or damaged. `digest` must have
/// passed [`checked_digest`].
fn cached_blob(
    client: &RegistryClient,
    repo: &str,
    digest: &str,
    size: u64,
    shell: &Shell,
) -> Result<PathBuf> {
    let hex = digest.trim_start_matches("sha256:");
    let path = cache_dir().join("sha256").join(hex);
    let intact = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == size)
        && forge_core::digest::sha256_file(&path).is_ok_and(|d| d == hex);
    if !intact {
        forge_core::fsx::create_dir_all(path.parent().expect("parent"))?;
        client.get_blob_to_file(repo, digest, Some(size), &path, shell)?;
    }
    Ok(path)
}

/// Pulls the base for one platform. `push_registries` are the registries the run pushes to:
/// the `FORGE_REGISTRY_*` credentials are used for the base only when it lives on one of them.
///
/// The steps: the platform's manifest (resolved by tag, fetched by digest, within the limits),
/// every descriptor in it checked, the config (its architecture checked), the layers (cached,
/// verified against their `diff_id`s), the runtime settings the image inherits.
pub fn pull(
    http: &forge_core::http::HttpClient,
    reference: &str,
    platform: &PlatformSpec,
    format: Format,
    push_registries: &[String],
    limits: &ImageLimits,
    shell: &Shell,
) -> Result<BaseImage> {
    let r = Reference::parse(reference)?;
    let client = base_client(http, &r, push_registries, shell)?;
    let (top_digest, manifest_bytes) =
        platform_manifest(&client, &r, reference, platform, limits, shell)?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest_bytes).context("invalid base image manifest")?;
    let (config_digest, config_size, descs) = checked_descriptors(reference, &manifest, limits)?;
    let config = fetch_config(
        &client,
        &r,
        reference,
        (config_digest, config_size),
        platform,
        shell,
    )?;
    let diff_ids = diff_ids(reference, &config, descs.len())?;
    let layers = fetch_layers(
        &client,
        &r,
        reference,
        descs.into_iter().zip(diff_ids),
        format,
        limits,
        shell,
    )?;
    let runtime = runtime_of(&config["config"]);
    let history = config["history"].as_array().cloned().unwrap_or_default();
    Ok(BaseImage {
        layers,
        history,
        repository: format!("{}/{}", r.registry, r.repository),
        runtime,
        index_digest: top_digest,
    })
}

/// A client of the base's registry (it answers `GET /v2/` before anything else is done).
fn base_client(
    http: &forge_core::http::HttpClient,
    r: &Reference,
    push_registries: &[String],
    shell: &Shell,
) -> Result<RegistryClient> {
    let mut scope: Vec<String> = push_registries.to_vec();
    if scope.is_empty() {
        // An empty list would mean "every registry": name none instead.
        scope.push(String::new());
    }
    let creds = crate::auth::Credentials::from_env().env_registries(scope);
    RegistryClient::new(http.clone(), &r.registry, creds, shell)
}

/// The base's manifest for `platform`: `(digest of what the reference resolved to, manifest
/// bytes)`. The reference is resolved with one `HEAD`, the index or manifest fetched by digest
/// within its size limit, and from an index the platform's manifest.
fn platform_manifest(
    client: &RegistryClient,
    r: &Reference,
    reference: &str,
    platform: &PlatformSpec,
    limits: &ImageLimits,
    shell: &Shell,
) -> Result<(String, Vec<u8>)> {
    let tag_or_digest = r
        .digest
        .clone()
        .or(r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    shell.status(
        "Resolving",
        format!("base {reference} ({})", platform.display()),
    );
    let is_index = |mt: &str| mt.contains("index") || mt.contains("list");
    let document_limit = |mt: &str| {
        if is_index(mt) {
            (limits.max_index_size, "max-index-size", "its index")
        } else {
            (
                limits.max_manifest_size,
                "max-manifest-size",
                "its manifest",
            )
        }
    };
    let (top_digest, top_size, top_type) = client
        .head_manifest(&r.repository, &tag_or_digest, MANIFEST_TYPES, shell)?
        .with_context(|| format!("base image `{reference}` not found"))?;
    let (limit, key, what) = document_limit(&top_type);
    if top_size > limit {
        return Err(over_limit(reference, what, limit, key));
    }
    let fetch = |digest: &str, max: u64, key: &str, what: &str| {
        client
            .get_manifest_limited(&r.repository, digest, MANIFEST_TYPES, max, shell)
            .map_err(|e| {
                if e.chain().any(|c| c.is::<forge_core::http::TooLarge>()) {
                    over_limit(reference, what, max, key)
                } else {
                    e
                }
            })
    };
    let top_max = limits.max_index_size.max(limits.max_manifest_size);
    let (bytes, media_type, _) = fetch(&top_digest, top_max, key, what)?;
    let (limit, key, what) = document_limit(&media_type);
    if bytes.len() as u64 > limit {
        return Err(over_limit(reference, what, limit, key));
    }
    let manifest_bytes = if is_index(&media_type) {
        let index: serde_json::Value =
            serde_json::from_slice(&bytes).context("invalid base image index")?;
        let wanted = |m: &&serde_json::Value| {
            let p = &m["platform"];
            p["os"] == platform.os.as_str()
                && p["architecture"] == platform.architecture.as_str()
                && (platform.variant.is_none()
                    || p["variant"].is_null()
                    || p["variant"] == platform.variant.as_deref().unwrap_or(""))
        };
        let m = index["manifests"]
            .as_array()
            .and_then(|ms| ms.iter().find(wanted))
            .with_context(|| {
                format!(
                    "base image `{reference}` has no {} variant",
                    platform.display()
                )
            })?;
        let what = format!("its {} manifest", platform.display());
        let d = checked_digest(reference, &what, m["digest"].as_str())?;
        if m["size"]
            .as_u64()
            .is_some_and(|s| s > limits.max_manifest_size)
        {
            return Err(over_limit(
                reference,
                &what,
                limits.max_manifest_size,
                "max-manifest-size",
            ));
        }
        fetch(d, limits.max_manifest_size, "max-manifest-size", &what)?.0
    } else {
        bytes
    };
    Ok((top_digest, manifest_bytes))
}

/// Every digest and size of the manifest, checked before the first blob is fetched: `(config
/// digest, config size, layers as (digest, size))`.
fn checked_descriptors<'a>(
    reference: &str,
    manifest: &'a serde_json::Value,
    limits: &ImageLimits,
) -> Result<(&'a str, u64, Vec<(String, u64)>)> {
    let config_digest = checked_digest(
        reference,
        "its config",
        manifest["config"]["digest"].as_str(),
    )?;
    let config_size = manifest["config"]["size"]
        .as_u64()
        .ok_or_else(|| refused(reference, "its config has no size"))?;
    if config_size > limits.max_manifest_size {
        return Err(over_limit(
            reference,
            "its config",
            limits.max_manifest_size,
            "max-manifest-size",
        ));
    }
    let layer_descs = manifest["layers"].as_array().cloned().unwrap_or_default();
    let mut descs = Vec::new();
    for (i, desc) in layer_descs.iter().enumerate() {
        let what = format!("its layer {}", i + 1);
        let digest = checked_digest(reference, &what, desc["digest"].as_str())?.to_string();
        let size = desc["size"]
            .as_u64()
            .ok_or_else(|| refused(reference, format!("{what} has no size")))?;
        let media_type = desc["mediaType"].as_str().unwrap_or("");
        if !media_type.contains("gzip") {
            bail!("base image `{reference}` has a layer of type `{media_type}`; only gzip layers are supported");
        }
        // A gzip is never much larger than what it inflates to.
        if size > limits.max_layer_size {
            return Err(over_limit(
                reference,
                &format!("{what} ({digest})"),
                limits.max_layer_size,
                "max-layer-size",
            ));
        }
        descs.push((digest, size));
    }
    Ok((config_digest, config_size, descs))
}

/// The base's config, from the cache or the registry, checked to be of `platform`'s
/// architecture.
fn fetch_config(
    client: &RegistryClient,
    r: &Reference,
    reference: &str,
    (config_digest, config_size): (&str, u64),
    platform: &PlatformSpec,
    shell: &Shell,
) -> Result<serde_json::Value> {
    let config_path = cached_blob(client, &r.repository, config_digest, config_size, shell)?;
    let config_bytes = forge_core::fsx::read(&config_path)?;
    let config: serde_json::Value =
        serde_json::from_slice(&config_bytes).context("invalid base image config")?;
    if config["architecture"] != platform.architecture.as_str() {
        return Err(anyhow::anyhow!(
            "base image `{reference}` is {} but {} was asked for",
            config["architecture"],
            platform.display()
        ))
        .hint(format!(
            "use a multi-platform base image (an index with {}), or one built for that platform",
            platform.display()
        ));
    }
    Ok(config)
}

/// The config's `diff_id`s, one per layer of the manifest.
fn diff_ids(reference: &str, config: &serde_json::Value, layers: usize) -> Result<Vec<String>> {
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != layers {
        return Err(refused(
            reference,
            format!(
                "it has {} layers but its config lists {} diff_ids",
                layers,
                diff_ids.len()
            ),
        ));
    }
    Ok(diff_ids)
}

/// The layers (`((digest, size), diff_id)`), from the cache or the registry, each verified
/// ([`crate::layer::verify`]) against its `diff_id` within the limits.
fn fetch_layers(
    client: &RegistryClient,
    r: &Reference,
    reference: &str,
    descs: impl Iterator<Item = ((String, u64), String)>,
    format: Format,
    limits: &ImageLimits,
    shell: &Shell,
) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    for (i, ((digest, size), diff_id)) in descs.enumerate() {
        let what = format!("its layer {} ({digest})", i + 1);
        let path = cached_blob(client, &r.repository, &digest, size, shell)?;
        let diff_size = crate::layer::verify(&path, &diff_id, limits.layer()).map_err(|e| {
            match e.downcast_ref::<crate::layer::Exceeded>() {
                Some(crate::layer::Exceeded::Size(n)) => {
                    over_limit(reference, &format!("{what} inflated"), *n, "max-layer-size")
                }
                Some(crate::layer::Exceeded::Entries(n)) => forge_core::exit::with_hint(
                    refused(
                        reference,
                        format!(
                            "{what} has more than {n} entries, the limit \
                             `{LIMITS_TABLE}.max-layer-entries`"
                        ),
                    ),
                    format!(
                        "if you trust this image, raise `max-layer-entries` in [{LIMITS_TABLE}] \
                         of Cargo.toml"
                    ),
                ),
                None => refused(reference, format!("{what}: {e:#}")),
            }
        })?;
        layers.push(Layer {
            blob_ref: BlobRef {
                digest,
                size,
                media_type: format.layer_gzip().into(),
            },
            blob: BlobFile::at(path),
            diff_id,
            diff_size,
            comment: format!("base {reference}"),
        });
    }
    Ok(layers)
}

/// The runtime settings of the base's config (`config` of it), which the image inherits.
fn runtime_of(c: &serde_json::Value) -> RuntimeConfig {
    let strings = |v: &serde_json::Value| {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect::<Vec<_>>()
        })
    };
    RuntimeConfig {
        user: c["User"]
            .as_str()
            .map(String::from)
            .filter(|s| !s.is_empty()),
        env: strings(&c["Env"]).unwrap_or_default(),
        entrypoint: strings(&c["Entrypoint"]),
        cmd: strings(&c["Cmd"]),
        workdir: c["WorkingDir"]
            .as_str()
            .map(String::from)
            .filter(|s| !s.is_empty()),
        ports: c["ExposedPorts"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        labels: c["Labels"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        healthcheck: c.get("Healthcheck").cloned(),
        stop_signal: c["StopSignal"].as_str().map(String::from),
    }
}

/// Ours over the base's: env merged by key, ours wins; entrypoint/cmd/user/workdir ours when set.
pub fn merge_runtime(base: &RuntimeConfig, ours: &RuntimeConfig) -> RuntimeConfig {
    let mut env = base.env.clone();
    for e in &ours.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|b| b.split('=').next() != Some(key));
        env.push(e.clone());
    }
    let mut labels = base.labels.clone();
    labels.extend(ours.labels.clone());
    let mut ports = base.ports.clone();
    for p in &ours.ports {
        if !ports.contains(p) {
            ports.push(p.clone());
        }
    }
    RuntimeConfig {
        user: ours.user.clone().or(base.user.clone()),
        env,
        // A new entrypoint resets the base's cmd, as in a Dockerfile.
        cmd: if ours.entrypoint.is_some() {
            ours.cmd.clone()
        } else {
            ours.cmd.clone().or(base.cmd.clone())
        },
        entrypoint: ours.entrypoint.clone().or(base.entrypoint.clone()),
        workdir: ours.workdir.clone().or(base.workdir.clone()),
        ports,
        labels,
        healthcheck: ours.healthcheck.clone().or(base.healthcheck.clone()),
        stop_signal: ours.stop_signal.clone().or(base.stop_signal.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_merge() {
        let base = RuntimeConfig {
            env: vec!["PATH=/bin".into(), "A=1".into()],
            cmd: Some(vec!["sh".into()]),
            user: Some("0".into()),
            ..Default::default()
        };
        let ours = RuntimeConfig {
            env: vec!["A=2".into()],
            entrypoint: Some(vec!["/app".into()]),
            user: Some("65532".into()),
            ..Default::default()
        };
        let m = merge_runtime(&base, &ours);
        assert_eq!(m.env, ["PATH=/bin", "A=2"]);
        assert_eq!(m.cmd, None);
        assert_eq!(m.user.as_deref(), Some("65532"));
    }
}

//! Base images: resolved by tag once (HEAD), fetched by digest, cached by digest.
//!
//! The base's index (or manifest) is resolved with one HEAD of its tag (free on Docker Hub's pull
//! limits) and fetched by digest; the platform's manifest, config and layers come by digest and
//! are kept in a content-addressed cache (`$XDG_CACHE_HOME/cargo-forge/blobs/sha256/…`,
//! `FORGE_BLOB_CACHE`), so a base is downloaded once per machine, verified by SHA-256. Layers
//! that come from the registry we push to are not downloaded at all when pushing: they are
//! mounted across repositories.
//!
//! Every layer read is checked for path traversal (`..`, absolute paths) before it is used.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use forge_core::{ResultExt, Shell};

use crate::layer::Layer;
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

fn cached_blob(
    client: &RegistryClient,
    repo: &str,
    digest: &str,
    shell: &Shell,
) -> Result<Vec<u8>> {
    let path = cache_dir()
        .join("sha256")
        .join(digest.trim_start_matches("sha256:"));
    if path.is_file() {
        let bytes = forge_core::fsx::read(&path)?;
        if format!("sha256:{}", forge_core::digest::sha256_hex(&bytes)) == digest {
            return Ok(bytes);
        }
    }
    forge_core::fsx::create_dir_all(path.parent().expect("parent"))?;
    client.get_blob_to_file(repo, digest, &path, shell)?;
    forge_core::fsx::read(&path)
}

/// Pulls the base for one platform. `push_registries` are the registries the run pushes to:
/// the `FORGE_REGISTRY_*` credentials are used for the base only when it lives on one of them.
pub fn pull(
    http: &forge_core::http::HttpClient,
    reference: &str,
    platform: &PlatformSpec,
    format: Format,
    push_registries: &[String],
    shell: &Shell,
) -> Result<BaseImage> {
    let r = Reference::parse(reference)?;
    let mut scope: Vec<String> = push_registries.to_vec();
    if scope.is_empty() {
        // An empty list would mean "every registry": name none instead.
        scope.push(String::new());
    }
    let creds = crate::auth::Credentials::from_env().env_registries(scope);
    let client = RegistryClient::new(http.clone(), &r.registry, creds, shell)?;
    let tag_or_digest = r
        .digest
        .clone()
        .or(r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    shell.status(
        "Resolving",
        format!("base {reference} ({})", platform.display()),
    );
    let (top_digest, _, _) = client
        .head_manifest(&r.repository, &tag_or_digest, MANIFEST_TYPES, shell)?
        .with_context(|| format!("base image `{reference}` not found"))?;
    let (bytes, media_type, _) =
        client.get_manifest(&r.repository, &top_digest, MANIFEST_TYPES, shell)?;
    let manifest_bytes = if media_type.contains("index") || media_type.contains("list") {
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
        let d = m["digest"].as_str().context("invalid base image index")?;
        client
            .get_manifest(&r.repository, d, MANIFEST_TYPES, shell)?
            .0
    } else {
        bytes
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest_bytes).context("invalid base image manifest")?;
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .context("base manifest has no config")?;
    let config_bytes = cached_blob(&client, &r.repository, config_digest, shell)?;
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
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let layer_descs = manifest["layers"].as_array().cloned().unwrap_or_default();
    if diff_ids.len() != layer_descs.len() {
        bail!(
            "base image `{reference}` has {} layers but {} diff ids",
            layer_descs.len(),
            diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in layer_descs.iter().zip(diff_ids) {
        let digest = desc["digest"].as_str().context("layer without digest")?;
        let media_type = desc["mediaType"].as_str().unwrap_or("");
        if !media_type.contains("gzip") {
            bail!("base image `{reference}` has a layer of type `{media_type}`; only gzip layers are supported");
        }
        let blob = cached_blob(&client, &r.repository, digest, shell)?;
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(blob.as_slice())
            .read_to_end(&mut tar)
            .with_context(|| format!("failed to decompress base layer {digest}"))?;
        check_layer_paths(&tar)
            .with_context(|| format!("base image `{reference}` layer {digest} is unsafe"))?;
        layers.push(Layer {
            blob_ref: BlobRef {
                digest: digest.to_string(),
                size: blob.len() as u64,
                media_type: format.layer_gzip().into(),
            },
            blob: std::sync::Arc::new(blob),
            diff_id,
            comment: format!("base {reference}"),
        });
    }
    let c = &config["config"];
    let strings = |v: &serde_json::Value| {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect::<Vec<_>>()
        })
    };
    let runtime = RuntimeConfig {
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
    };
    let history = config["history"].as_array().cloned().unwrap_or_default();
    Ok(BaseImage {
        layers,
        history,
        repository: format!("{}/{}", r.registry, r.repository),
        runtime,
        index_digest: top_digest,
    })
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

/// Rejects a tar with absolute paths, `..` components, or links that escape the root.
pub fn check_layer_paths(tar: &[u8]) -> Result<()> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().context("not a tar archive")? {
        let entry = entry.context("corrupt tar entry")?;
        let path = entry.path().context("invalid path in tar")?.into_owned();
        forge_core::archive::check_member_path(&path).or_else(|e| {
            if path.as_os_str() == "./" || path.as_os_str() == "." {
                Ok(String::new())
            } else {
                Err(e)
            }
        })?;
        if entry.header().entry_type().is_hard_link() {
            if let Some(target) = entry.link_name().context("invalid link in tar")? {
                forge_core::archive::check_member_path(&target).with_context(|| {
                    format!("hard link `{}` points outside the archive", path.display())
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_rejected() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.as_gnu_mut().unwrap().name[..16].copy_from_slice(b"../../etc/passwd");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let bad = b.into_inner().unwrap();
        assert!(check_layer_paths(&bad).is_err());
        let good = forge_core::archive::write_tar(
            Vec::new(),
            vec![forge_core::archive::Entry::bytes("a/b", vec![1], 0o644).unwrap()],
            &Default::default(),
        )
        .unwrap();
        check_layer_paths(&good).unwrap();
    }

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

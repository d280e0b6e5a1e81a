//! Local outputs: an OCI image layout directory (`--output oci:DIR`) and a `docker load`-able
//! archive (`--output docker-archive:FILE`).
//!
//! The layout's `index.json` names the image by its tag (`org.opencontainers.image.ref.name`) and,
//! for a multi-platform image, also names each platform's manifest `<tag>-<os>-<arch>[-<variant>]`,
//! so tools that only unpack single manifests (umoci) can pick one. Existing entries of other
//! names are kept, so several images can share one layout.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

use forge_core::archive::Entry;

use crate::image::{BuiltImage, PlatformImage};

fn write_blob(dir: &Path, digest: &str, bytes: &[u8]) -> Result<()> {
    let hex = digest.trim_start_matches("sha256:");
    let path = dir.join("blobs/sha256").join(hex);
    if path.is_file() && forge_core::fsx::metadata(&path)?.len() == bytes.len() as u64 {
        return Ok(());
    }
    forge_core::fsx::write_atomic(&path, bytes)
}

fn descriptor(
    media_type: &str,
    digest: &str,
    size: u64,
    ref_name: &str,
    platform: Option<&crate::oci::PlatformSpec>,
) -> serde_json::Value {
    let mut d = serde_json::json!({
        "mediaType": media_type,
        "digest": digest,
        "size": size,
        "annotations": { "org.opencontainers.image.ref.name": ref_name },
    });
    if let Some(p) = platform {
        d["platform"] = serde_json::to_value(p).expect("platform");
    }
    d
}

/// Writes (or adds to) an OCI image layout.
pub fn write_oci_layout(dir: &Path, image: &BuiltImage, tag: &str) -> Result<()> {
    forge_core::fsx::create_dir_all(&dir.join("blobs/sha256"))?;
    forge_core::fsx::write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let mut new_entries = Vec::new();
    for p in &image.platforms {
        for l in &p.layers {
            write_blob(dir, &l.blob_ref.digest, &l.blob)?;
        }
        write_blob(dir, &p.config_ref.digest, &p.config)?;
        write_blob(dir, &p.manifest_ref.digest, &p.manifest)?;
        if image.platforms.len() > 1 {
            let name = format!("{tag}-{}", p.platform.display().replace('/', "-"));
            new_entries.push(descriptor(
                &p.manifest_ref.media_type,
                &p.manifest_ref.digest,
                p.manifest_ref.size,
                &name,
                Some(&p.platform),
            ));
        }
    }
    match &image.index {
        Some((bytes, r)) => {
            write_blob(dir, &r.digest, bytes)?;
            new_entries.insert(0, descriptor(&r.media_type, &r.digest, r.size, tag, None));
        }
        None => {
            let p = &image.platforms[0];
            new_entries.insert(
                0,
                descriptor(
                    &p.manifest_ref.media_type,
                    &p.manifest_ref.digest,
                    p.manifest_ref.size,
                    tag,
                    Some(&p.platform),
                ),
            );
        }
    }
    let index_path = dir.join("index.json");
    let mut manifests: Vec<serde_json::Value> = if index_path.is_file() {
        let v: serde_json::Value = serde_json::from_slice(&forge_core::fsx::read(&index_path)?)
            .with_context(|| format!("`{}` is not a valid OCI index", index_path.display()))?;
        v["manifests"].as_array().cloned().unwrap_or_default()
    } else {
        Vec::new()
    };
    let names: Vec<String> = new_entries
        .iter()
        .map(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    manifests.retain(|m| {
        !names
            .iter()
            .any(|n| m["annotations"]["org.opencontainers.image.ref.name"] == n.as_str())
    });
    manifests.extend(new_entries);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    forge_core::fsx::write_atomic(&index_path, &crate::oci::canonical_json(&index)?)
}

/// Writes a `docker load` archive of one platform image.
pub fn write_docker_archive(
    file: &Path,
    image: &PlatformImage,
    repo_tag: &str,
    mtime: u64,
) -> Result<()> {
    let mut entries = Vec::new();
    let mut layer_paths = Vec::new();
    for l in &image.layers {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(l.blob.as_slice())
            .read_to_end(&mut tar)
            .context("failed to decompress a layer for the docker archive")?;
        let name = format!("{}/layer.tar", l.diff_id.trim_start_matches("sha256:"));
        entries.push(Entry::bytes(&name, tar, 0o644)?);
        layer_paths.push(name);
    }
    let config_name = format!(
        "{}.json",
        image.config_ref.digest.trim_start_matches("sha256:")
    );
    entries.push(Entry::bytes(&config_name, image.config.to_vec(), 0o644)?);
    let manifest = serde_json::json!([{ "Config": config_name, "RepoTags": [repo_tag], "Layers": layer_paths }]);
    entries.push(Entry::bytes(
        "manifest.json",
        serde_json::to_vec(&manifest)?,
        0o644,
    )?);
    let (repo, tag) = repo_tag.rsplit_once(':').unwrap_or((repo_tag, "latest"));
    let top = layer_paths
        .last()
        .map(|p| p.trim_end_matches("/layer.tar").to_string())
        .unwrap_or_default();
    let repositories: BTreeMap<&str, BTreeMap<&str, String>> =
        BTreeMap::from([(repo, BTreeMap::from([(tag, top)]))]);
    entries.push(Entry::bytes(
        "repositories",
        serde_json::to_vec(&repositories)?,
        0o644,
    )?);
    let opts = forge_core::archive::TarOptions {
        mtime,
        ..Default::default()
    };
    let mut out = forge_core::fsx::AtomicFile::create(file)?;
    forge_core::archive::write_tar(&mut out, entries, &opts)?;
    out.commit()
}

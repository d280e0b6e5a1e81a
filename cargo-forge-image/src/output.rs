//! Local outputs: an OCI image layout directory (`--output oci:DIR`) and a `docker load`-able
//! archive (`--output docker-archive:FILE`).
//!
//! The layout's `index.json` names the image by its tag (`org.opencontainers.image.ref.name`) and,
//! for a multi-platform image, also names each platform's manifest `<tag>-<os>-<arch>[-<variant>]`,
//! so tools that only unpack single manifests (umoci) can pick one. Existing entries of other
//! names are kept, so several images can share one layout.
//!
//! Both stream: layer blobs are copied file to file (the kernel's `copy_file_range`), and a
//! docker archive's `layer.tar`s are inflated from the gzipped blobs while the archive is
//! written, one at a time, their sizes known from the layers (`diff_size`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use forge_core::archive::{Entry, Source};

use crate::image::{BuiltImage, PlatformImage};
use crate::layer::BlobFile;

fn blob_path(dir: &Path, digest: &str) -> Result<std::path::PathBuf> {
    if !forge_core::digest::is_sha256_digest(digest) {
        anyhow::bail!("invalid blob digest `{digest}`");
    }
    Ok(dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:")))
}

fn write_blob(dir: &Path, digest: &str, bytes: &[u8]) -> Result<()> {
    let path = blob_path(dir, digest)?;
    if path.is_file() && forge_core::fsx::metadata(&path)?.len() == bytes.len() as u64 {
        return Ok(());
    }
    forge_core::fsx::write_atomic(&path, bytes)
}

fn copy_blob(dir: &Path, digest: &str, size: u64, blob: &BlobFile) -> Result<()> {
    let path = blob_path(dir, digest)?;
    if path.is_file() && forge_core::fsx::metadata(&path)?.len() == size {
        return Ok(());
    }
    let mut src = blob.open()?;
    let mut out = forge_core::fsx::AtomicFile::create(&path)?;
    std::io::copy(&mut src, out.file_mut()).with_context(|| {
        format!(
            "failed to copy `{}` to `{}`",
            blob.path.display(),
            path.display()
        )
    })?;
    out.commit()
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
            copy_blob(dir, &l.blob_ref.digest, l.blob_ref.size, &l.blob)?;
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
        let name = format!("{}/layer.tar", l.diff_id.trim_start_matches("sha256:"));
        let blob = l.blob.clone();
        let source = Source::new(move || {
            let file = std::io::BufReader::with_capacity(1 << 16, blob.open()?);
            Ok(Box::new(flate2::read::MultiGzDecoder::new(file)) as Box<dyn std::io::Read>)
        });
        entries.push(Entry::stream(&name, l.diff_size, source, 0o644)?);
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
    let buffered = std::io::BufWriter::with_capacity(1 << 16, &mut out);
    forge_core::archive::write_tar(buffered, entries, &opts)?
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("failed to write `{}`", file.display()))?;
    out.commit()
}

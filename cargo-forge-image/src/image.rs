//! Assembling an image: layers → config → platform manifest, then the index over platforms.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::layer::Layer;
use crate::oci::{self, BlobRef, Format, PlatformSpec, RuntimeConfig};

/// One platform's image.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub platform: PlatformSpec,
    /// Base layers first, then ours.
    pub layers: Vec<Layer>,
    pub config: Arc<Vec<u8>>,
    pub config_ref: BlobRef,
    pub manifest: Arc<Vec<u8>>,
    pub manifest_ref: BlobRef,
    /// The repository the base layers can be mounted from (same registry), if any.
    pub base_repository: Option<String>,
}

/// A whole image: platform images and, when there are several, the index.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub format: Format,
    pub platforms: Vec<PlatformImage>,
    pub index: Option<(Arc<Vec<u8>>, BlobRef)>,
    pub annotations: BTreeMap<String, String>,
}

impl BuiltImage {
    /// The digest and media type of what a tag points to (the index, or the single manifest).
    pub fn top(&self) -> (&[u8], &BlobRef) {
        match &self.index {
            Some((b, r)) => (b.as_slice(), r),
            None => (
                self.platforms[0].manifest.as_slice(),
                &self.platforms[0].manifest_ref,
            ),
        }
    }
}

/// Summary for `--message-format json`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ImageSummary {
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<PlatformSummary>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PlatformSummary {
    pub platform: String,
    pub digest: String,
    pub layers: Vec<String>,
}

impl BuiltImage {
    pub fn summary(&self) -> ImageSummary {
        let (_, top) = self.top();
        ImageSummary {
            digest: top.digest.clone(),
            media_type: top.media_type.clone(),
            platforms: self
                .platforms
                .iter()
                .map(|p| PlatformSummary {
                    platform: p.platform.display(),
                    digest: p.manifest_ref.digest.clone(),
                    layers: p.layers.iter().map(|l| l.blob_ref.digest.clone()).collect(),
                })
                .collect(),
        }
    }
}

/// What a platform image is made of.
pub struct PlatformInput {
    pub platform: PlatformSpec,
    /// Base image layers and their diff ids (empty for scratch).
    pub base_layers: Vec<Layer>,
    /// The base image's history entries.
    pub base_history: Vec<serde_json::Value>,
    pub base_repository: Option<String>,
    pub layers: Vec<Layer>,
    pub runtime: RuntimeConfig,
}

/// Builds config and manifest of one platform.
pub fn assemble(
    format: Format,
    input: PlatformInput,
    created: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<PlatformImage> {
    let mut layers = input.base_layers;
    let mut history = input.base_history;
    for l in &input.layers {
        history.push(serde_json::json!({ "created": created, "created_by": format!("cargo forge-image: {}", l.comment), "comment": l.comment }));
    }
    layers.extend(input.layers);
    let layers: Vec<Layer> = layers
        .into_iter()
        .map(|mut l| {
            l.blob_ref.media_type = format.layer_gzip().to_string();
            l
        })
        .collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = oci::config(
        format,
        &input.platform,
        &input.runtime,
        &diff_ids,
        &history,
        created,
    )?;
    let config_ref = BlobRef::of_bytes(&config, format.config());
    let layer_refs: Vec<BlobRef> = layers.iter().map(|l| l.blob_ref.clone()).collect();
    let manifest = oci::manifest(format, &config_ref, &layer_refs, annotations)?;
    let manifest_ref = BlobRef::of_bytes(&manifest, format.manifest());
    Ok(PlatformImage {
        platform: input.platform,
        layers,
        config: Arc::new(config),
        config_ref,
        manifest: Arc::new(manifest),
        manifest_ref,
        base_repository: input.base_repository,
    })
}

/// Builds the index (for more than one platform).
pub fn finish(
    format: Format,
    mut platforms: Vec<PlatformImage>,
    annotations: BTreeMap<String, String>,
) -> Result<BuiltImage> {
    // The same order as `merge` uses, so a one-shot push and a fan-out + merge give one index.
    platforms.sort_by_key(|p| p.platform.display());
    let index = if platforms.len() > 1 {
        let entries: Vec<(BlobRef, PlatformSpec)> = platforms
            .iter()
            .map(|p| (p.manifest_ref.clone(), p.platform.clone()))
            .collect();
        let bytes = oci::index(format, &entries, &annotations)?;
        let r = BlobRef::of_bytes(&bytes, format.index());
        Some((Arc::new(bytes), r))
    } else {
        None
    };
    Ok(BuiltImage {
        format,
        platforms,
        index,
        annotations,
    })
}

//! OCI and Docker image documents: configs, manifests, indexes, and their media types.
//!
//! Types come from `oci-spec`; Docker v2 schema 2 media types (which oci-spec's enum lacks) are
//! `MediaType::Other`. Every document is serialised through [`canonical_json`] — keys sorted at
//! every level — because oci-spec keeps labels and annotations in `HashMap`s, whose order would
//! otherwise change the bytes, and so the digest, from one run to the next.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use oci_spec::image::{
    Arch, Descriptor, DescriptorBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType, Os,
    PlatformBuilder,
};
use serde::{Deserialize, Serialize};

/// The manifest format: `--format` and the image table's `format`, one closed set spelled
/// `oci`/`docker` in both and in JSON output; an unknown value is an error listing these.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Oci,
    Docker,
}

impl Format {
    pub fn manifest(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.manifest.v1+json",
            Format::Docker => "application/vnd.docker.distribution.manifest.v2+json",
        }
    }

    pub fn index(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.index.v1+json",
            Format::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
        }
    }

    pub fn config(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.config.v1+json",
            Format::Docker => "application/vnd.docker.container.image.v1+json",
        }
    }

    pub fn layer_gzip(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.layer.v1.tar+gzip",
            Format::Docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }

    /// The format of a manifest or index media type.
    pub fn of_media_type(mt: &str) -> Option<Format> {
        if mt.starts_with("application/vnd.oci.") {
            Some(Format::Oci)
        } else if mt.starts_with("application/vnd.docker.") {
            Some(Format::Docker)
        } else {
            None
        }
    }
}

/// Serialises with object keys sorted at every level, compactly.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let v = serde_json::to_value(value).context("failed to serialise an image document")?;
    let mut out = Vec::new();
    write_canonical(&v, &mut out);
    Ok(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    match v {
        serde_json::Value::Object(map) => {
            out.push(b'{');
            let sorted: BTreeMap<&String, &serde_json::Value> = map.iter().collect();
            for (i, (k, val)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).expect("string").as_bytes());
                out.push(b':');
                write_canonical(val, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(serde_json::to_string(other).expect("scalar").as_bytes()),
    }
}

/// A blob with its digest (`sha256:…`), size and media type.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

impl BlobRef {
    pub fn of_bytes(bytes: &[u8], media_type: &str) -> BlobRef {
        BlobRef {
            digest: format!("sha256:{}", forge_core::digest::sha256_hex(bytes)),
            size: bytes.len() as u64,
            media_type: media_type.to_string(),
        }
    }

    pub fn descriptor(&self) -> Result<Descriptor> {
        Ok(DescriptorBuilder::default()
            .media_type(MediaType::from(self.media_type.as_str()))
            .digest(
                self.digest
                    .parse::<oci_spec::image::Digest>()
                    .with_context(|| format!("invalid digest `{}`", self.digest))?,
            )
            .size(self.size)
            .build()?)
    }
}

/// A platform: `linux/arm64/v8`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl PlatformSpec {
    pub fn of_target(t: &forge_core::target::TargetInfo) -> PlatformSpec {
        PlatformSpec {
            os: t.oci_os.clone(),
            architecture: t.oci_arch.clone(),
            variant: t.oci_variant.clone(),
        }
    }

    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    fn oci(&self) -> Result<oci_spec::image::Platform> {
        let mut b = PlatformBuilder::default()
            .architecture(Arch::from(self.architecture.as_str()))
            .os(Os::from(self.os.as_str()));
        if let Some(v) = &self.variant {
            b = b.variant(v.clone());
        }
        Ok(b.build()?)
    }
}

/// A platform manifest's bytes for the given config and layers.
pub fn manifest(
    format: Format,
    config: &BlobRef,
    layers: &[BlobRef],
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut b = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(format.manifest()))
        .config(config.descriptor()?)
        .layers(
            layers
                .iter()
                .map(BlobRef::descriptor)
                .collect::<Result<Vec<_>>>()?,
        );
    if format == Format::Oci && !annotations.is_empty() {
        b = b.annotations(
            annotations
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    canonical_json(&b.build()?)
}

/// An index (OCI) or manifest list (Docker) over platform manifests.
pub fn index(
    format: Format,
    manifests: &[(BlobRef, PlatformSpec)],
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut descs = Vec::new();
    for (m, p) in manifests {
        let mut d = m.descriptor()?;
        d.set_platform(Some(p.oci()?));
        descs.push(d);
    }
    let mut b = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::from(format.index()))
        .manifests(descs);
    if format == Format::Oci && !annotations.is_empty() {
        b = b.annotations(
            annotations
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    canonical_json(&b.build()?)
}

/// The runtime settings of an image (the `config` object of the image configuration).
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuntimeConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<serde_json::Value>,
    pub stop_signal: Option<String>,
}

/// The image configuration blob.
pub fn config(
    format: Format,
    platform: &PlatformSpec,
    runtime: &RuntimeConfig,
    diff_ids: &[String],
    history: &[serde_json::Value],
    created: &str,
) -> Result<Vec<u8>> {
    let mut cfg = serde_json::Map::new();
    if let Some(u) = &runtime.user {
        cfg.insert("User".into(), u.clone().into());
    }
    if !runtime.env.is_empty() {
        cfg.insert("Env".into(), runtime.env.clone().into());
    }
    if let Some(e) = &runtime.entrypoint {
        cfg.insert("Entrypoint".into(), e.clone().into());
    }
    if let Some(c) = &runtime.cmd {
        cfg.insert("Cmd".into(), c.clone().into());
    }
    if let Some(w) = &runtime.workdir {
        cfg.insert("WorkingDir".into(), w.clone().into());
    }
    if !runtime.ports.is_empty() {
        let ports: serde_json::Map<String, serde_json::Value> = runtime
            .ports
            .iter()
            .map(|p| (p.clone(), serde_json::json!({})))
            .collect();
        cfg.insert("ExposedPorts".into(), ports.into());
    }
    if !runtime.labels.is_empty() {
        cfg.insert("Labels".into(), serde_json::to_value(&runtime.labels)?);
    }
    if let Some(s) = &runtime.stop_signal {
        cfg.insert("StopSignal".into(), s.clone().into());
    }
    if let (Format::Docker, Some(h)) = (format, &runtime.healthcheck) {
        cfg.insert("Healthcheck".into(), h.clone());
    }
    let mut doc = serde_json::json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": cfg,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": history,
    });
    if let Some(v) = &platform.variant {
        doc["variant"] = v.clone().into();
    }
    // Validate against oci-spec's model (types, required fields) before using our bytes.
    let _: oci_spec::image::ImageConfiguration = serde_json::from_value(doc.clone())
        .context("internal error: invalid image configuration")?;
    canonical_json(&doc)
}

/// RFC 3339 time for `created` fields.
pub fn rfc3339(epoch: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_is_sorted_and_stable() {
        let mut a = std::collections::HashMap::new();
        for i in 0..50 {
            a.insert(format!("k{i}"), i);
        }
        let one = canonical_json(&a).unwrap();
        let two = canonical_json(
            &a.clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .unwrap();
        assert_eq!(one, two);
        assert!(String::from_utf8(one)
            .unwrap()
            .starts_with("{\"k0\":0,\"k1\":1,\"k10\":10"));
    }

    #[test]
    fn docker_and_oci_documents() {
        let cfg = BlobRef::of_bytes(b"{}", Format::Docker.config());
        let layer = BlobRef::of_bytes(b"x", Format::Docker.layer_gzip());
        let ann = BTreeMap::from([(
            "org.opencontainers.image.version".to_string(),
            "1".to_string(),
        )]);
        let m = manifest(Format::Docker, &cfg, &[layer.clone()], &ann).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["mediaType"], Format::Docker.manifest());
        assert!(
            v.get("annotations").is_none(),
            "docker manifests carry no annotations"
        );
        let m = manifest(Format::Oci, &cfg, &[layer], &ann).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["annotations"]["org.opencontainers.image.version"], "1");
        let mref = BlobRef::of_bytes(&m, Format::Oci.manifest());
        let p = PlatformSpec {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        let i = index(Format::Oci, &[(mref, p)], &ann).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&i).unwrap();
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "arm64");
        assert_eq!(v["manifests"][0]["platform"]["variant"], "v8");
    }

    #[test]
    fn healthcheck_only_in_docker_format() {
        let p = PlatformSpec {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        };
        let rt = RuntimeConfig {
            healthcheck: Some(serde_json::json!({"Test": ["CMD", "x"]})),
            ..Default::default()
        };
        let d: serde_json::Value = serde_json::from_slice(
            &config(
                Format::Docker,
                &p,
                &rt,
                &["sha256:00".into()],
                &[],
                "1970-01-01T00:00:00Z",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(d["config"]["Healthcheck"]["Test"][1], "x");
        let o: serde_json::Value = serde_json::from_slice(
            &config(
                Format::Oci,
                &p,
                &rt,
                &["sha256:00".into()],
                &[],
                "1970-01-01T00:00:00Z",
            )
            .unwrap(),
        )
        .unwrap();
        assert!(o["config"].get("Healthcheck").is_none());
    }
}

//! CycloneDX 1.5 SBOMs (`sbom = true`): one `<name>-<version>-<target>.cdx.json` per target,
//! listing the released package's resolved non-dev dependency graph for that target, as
//! `cargo metadata --filter-platform <target>` resolves it (normal and build dependencies,
//! transitively; dev-dependencies never ship).
//!
//! Each component has its name, version, `pkg:cargo/name@version` PURL, its license expression
//! and, for registry packages, the SHA-256 `checksum` Cargo.lock records (the digest of the
//! `.crate` file crates.io serves). The document is built with the CycloneDX project's own
//! `cyclonedx-bom` model, validated against the 1.5 rules before it is written, and
//! reproducible: the timestamp is `SOURCE_DATE_EPOCH`, the serial number is derived from the
//! content, components and dependencies are sorted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use cargo_metadata::{DependencyKind, Metadata as CargoMetadata, PackageId};
use cyclonedx_bom::external_models::date_time::DateTime;
use cyclonedx_bom::models::component::Classification;
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{LicenseChoice, Licenses};
use cyclonedx_bom::models::tool::{Tool, Tools};
use cyclonedx_bom::prelude::*;

use forge_core::process::Cmd;
use forge_core::Shell;

/// What the SBOM is of.
pub struct SbomRequest<'a> {
    pub cargo: &'a Path,
    pub manifest_path: &'a Path,
    pub workspace_root: &'a Path,
    pub package: &'a str,
    pub version: &'a str,
    pub target: &'a str,
    pub features: &'a clap_cargo::Features,
    pub locked: bool,
    pub frozen: bool,
    pub offline: bool,
    pub source_date_epoch: u64,
}

/// The file name of a target's SBOM.
pub fn file_name(package: &str, version: &str, target: &str) -> String {
    format!("{package}-{version}-{target}.cdx.json")
}

/// `cargo metadata` with the dependency graph resolved for one target.
fn resolve(req: &SbomRequest<'_>, shell: &Shell) -> Result<CargoMetadata> {
    let mut cmd = Cmd::new(req.cargo)
        .args(["metadata", "--format-version", "1", "--filter-platform"])
        .arg(req.target)
        .arg("--manifest-path")
        .arg(req.manifest_path)
        .cwd(req.workspace_root);
    if req.features.all_features {
        cmd = cmd.arg("--all-features");
    }
    if req.features.no_default_features {
        cmd = cmd.arg("--no-default-features");
    }
    if !req.features.features.is_empty() {
        cmd = cmd.arg("--features").arg(req.features.features.join(","));
    }
    for (on, flag) in [
        (req.locked, "--locked"),
        (req.frozen, "--frozen"),
        (req.offline, "--offline"),
    ] {
        if on {
            cmd = cmd.arg(flag);
        }
    }
    let json = cmd.read(shell).with_context(|| {
        format!(
            "failed to resolve the dependencies of `{}` for {}",
            req.package, req.target
        )
    })?;
    serde_json::from_str(&json).context("failed to parse the output of `cargo metadata`")
}

/// `(name, version, source)` → checksum, from Cargo.lock's `[[package]]` tables.
fn lock_checksums(lock: &Path) -> Result<BTreeMap<(String, String, String), String>> {
    let mut out = BTreeMap::new();
    if !lock.is_file() {
        return Ok(out);
    }
    let doc: toml_edit::DocumentMut = forge_core::fsx::read_to_string(lock)?
        .parse()
        .with_context(|| format!("failed to parse `{}`", lock.display()))?;
    let Some(packages) = doc.get("package").and_then(|p| p.as_array_of_tables()) else {
        return Ok(out);
    };
    for p in packages.iter() {
        let get = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if let (Some(name), Some(version), Some(source), Some(sum)) =
            (get("name"), get("version"), get("source"), get("checksum"))
        {
            out.insert((name, version, source), sum);
        }
    }
    Ok(out)
}

/// The packages reachable from `root` through normal and build dependencies (not `root`).
fn non_dev_closure(
    meta: &CargoMetadata,
    root: &PackageId,
) -> Result<BTreeMap<PackageId, Vec<PackageId>>> {
    let resolve = meta
        .resolve
        .as_ref()
        .ok_or_else(|| anyhow!("`cargo metadata` returned no dependency graph"))?;
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> =
        resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let mut edges: BTreeMap<PackageId, Vec<PackageId>> = BTreeMap::new();
    let mut queue = VecDeque::from([root.clone()]);
    while let Some(id) = queue.pop_front() {
        if edges.contains_key(&id) {
            continue;
        }
        let node = nodes
            .get(&id)
            .ok_or_else(|| anyhow!("`{id}` is missing from the dependency graph"))?;
        let mut deps: Vec<PackageId> = node
            .deps
            .iter()
            .filter(|d| {
                d.dep_kinds
                    .iter()
                    .any(|k| k.kind != DependencyKind::Development)
            })
            .map(|d| d.pkg.clone())
            .collect();
        deps.sort();
        deps.dedup();
        queue.extend(deps.iter().cloned());
        edges.insert(id, deps);
    }
    Ok(edges)
}

fn purl(name: &str, version: &str) -> Result<Purl> {
    Purl::new("cargo", name, version)
        .map_err(|e| anyhow!("no package URL for {name} {version}: {e}"))
}

fn component(
    package: &cargo_metadata::Package,
    kind: Classification,
    checksums: &BTreeMap<(String, String, String), String>,
) -> Result<Component> {
    let version = package.version.to_string();
    let mut c = Component::new(kind, &package.name, &version, Some(package.id.repr.clone()));
    c.purl = Some(purl(&package.name, &version)?);
    if let Some(l) = &package.license {
        // `MIT/Apache-2.0` (old crates) is read as `MIT OR Apache-2.0`.
        let expression =
            SpdxExpression::parse_lax(l.clone()).unwrap_or_else(|_| SpdxExpression::new(l));
        c.licenses = Some(Licenses(vec![LicenseChoice::Expression(expression)]));
    }
    if let Some(source) = &package.source {
        let key = (
            package.name.to_string(),
            version.clone(),
            source.repr.clone(),
        );
        if let Some(sum) = checksums.get(&key) {
            c.hashes = Some(Hashes(vec![Hash {
                alg: HashAlgorithm::SHA_256,
                content: HashValue(sum.clone()),
            }]));
        }
    }
    if let Some(d) = &package.description {
        c.description = Some(NormalizedString::new(d));
    }
    Ok(c)
}

/// `urn:uuid:…` from a digest of the content (a reproducible serial number, shaped as a v5 UUID).
fn serial_number(seed: &str) -> Result<UrnUuid> {
    let h = forge_core::digest::sha256_hex(seed.as_bytes());
    let b = h.as_bytes();
    let s = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).expect("hex");
    let uuid = format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        s(0..8),
        s(8..12),
        s(13..16),
        s(17..20),
        s(20..32)
    );
    UrnUuid::new(uuid).map_err(|e| anyhow!("invalid serial number: {e:?}"))
}

/// The SBOM document of one target.
pub fn document(req: &SbomRequest<'_>, shell: &Shell) -> Result<Vec<u8>> {
    let meta = resolve(req, shell)?;
    let root = meta
        .workspace_members
        .iter()
        .find(|id| {
            meta.packages
                .iter()
                .any(|p| &p.id == *id && p.name.as_str() == req.package)
        })
        .cloned()
        .ok_or_else(|| anyhow!("`{}` is not a member of the workspace", req.package))?;
    let by_id: BTreeMap<&PackageId, &cargo_metadata::Package> =
        meta.packages.iter().map(|p| (&p.id, p)).collect();
    let checksums = lock_checksums(&req.workspace_root.join("Cargo.lock"))?;
    let edges = non_dev_closure(&meta, &root)?;

    let mut components = Vec::new();
    for id in edges.keys().filter(|id| **id != root) {
        let p = by_id
            .get(id)
            .ok_or_else(|| anyhow!("`{id}` is missing from `cargo metadata`"))?;
        components.push(component(p, Classification::Library, &checksums)?);
    }
    components.sort_by(|a, b| {
        (
            a.name.to_string(),
            a.version.as_ref().map(|v| v.to_string()),
            &a.bom_ref,
        )
            .cmp(&(
                b.name.to_string(),
                b.version.as_ref().map(|v| v.to_string()),
                &b.bom_ref,
            ))
    });
    let dependencies: Vec<Dependency> = edges
        .iter()
        .map(|(id, deps)| Dependency {
            dependency_ref: id.repr.clone(),
            dependencies: deps.iter().map(|d| d.repr.clone()).collect(),
        })
        .collect();
    let root_pkg = by_id.get(&root).expect("found above");
    let timestamp = time::OffsetDateTime::from_unix_timestamp(req.source_date_epoch as i64)
        .context("SOURCE_DATE_EPOCH is out of range")?
        .format(&time::format_description::well_known::Rfc3339)
        .context("failed to format the SBOM timestamp")?;
    let refs: BTreeSet<&str> = components
        .iter()
        .filter_map(|c| c.bom_ref.as_deref())
        .collect();
    let seed = format!(
        "{} {} {} {}",
        req.package,
        req.version,
        req.target,
        refs.into_iter().collect::<Vec<_>>().join(" ")
    );
    let bom = Bom {
        serial_number: Some(serial_number(&seed)?),
        metadata: Some(Metadata {
            timestamp: Some(
                DateTime::try_from(timestamp)
                    .map_err(|e| anyhow!("invalid SBOM timestamp: {e:?}"))?,
            ),
            tools: Some(Tools::List(vec![Tool {
                name: Some(NormalizedString::new("cargo-forge-release")),
                version: Some(NormalizedString::new(env!("CARGO_PKG_VERSION"))),
                ..Tool::default()
            }])),
            component: Some(component(
                root_pkg,
                Classification::Application,
                &checksums,
            )?),
            ..Metadata::default()
        }),
        components: Some(Components(components)),
        dependencies: Some(Dependencies(dependencies)),
        spec_version: SpecVersion::V1_5,
        ..Bom::default()
    };
    let result = bom.validate_version(SpecVersion::V1_5);
    if !result.passed() {
        return Err(anyhow!(
            "the SBOM of `{}` for {} is not valid CycloneDX 1.5: {result:?}",
            req.package,
            req.target
        ));
    }
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out)
        .map_err(|e| anyhow!("failed to write the SBOM: {e}"))?;
    out.push(b'\n');
    Ok(out)
}

/// Writes a target's SBOM into `dir` (complete or not at all).
pub fn write(dir: &Path, req: &SbomRequest<'_>, shell: &Shell) -> Result<PathBuf> {
    let bytes = document(req, shell)?;
    let path = dir.join(file_name(req.package, req.version, req.target));
    forge_core::fsx::write_atomic(&path, &bytes)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_valid_and_stable() {
        let a = serial_number("app 1.0.0 x86_64-unknown-linux-gnu").unwrap();
        assert_eq!(
            a,
            serial_number("app 1.0.0 x86_64-unknown-linux-gnu").unwrap()
        );
        assert_ne!(
            a,
            serial_number("app 1.0.1 x86_64-unknown-linux-gnu").unwrap()
        );
        assert!(a.to_string().starts_with("urn:uuid:"), "{a}");
    }

    #[test]
    fn purls_are_cargo_ones() {
        assert_eq!(
            purl("serde", "1.0.1").unwrap().to_string(),
            "pkg:cargo/serde@1.0.1"
        );
    }
}

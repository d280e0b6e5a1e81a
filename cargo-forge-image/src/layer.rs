//! Image layers: reproducible gzipped tars of the app, of the runtime libraries a `scratch` image
//! needs, or of a Debian package's files.
//!
//! A layer is built in memory from archive entries (forge-core's reproducible tar writer, with
//! `SOURCE_DATE_EPOCH` mtimes) and gzipped with a zero header mtime; its `diff_id` is the SHA-256
//! of the tar, its digest that of the gzip. Same inputs, same digests. The gzip of a tar is
//! cached by the tar's SHA-256 next to the base blobs (`FORGE_BLOB_CACHE`), so re-pushing an
//! unchanged image does not compress it again (compression was most of that run's time).
//!
//! For `scratch`, the binary's ELF `NEEDED` libraries and its interpreter (`PT_INTERP`) are
//! looked up, recursively, in the target's library directories on this machine (Debian multiarch
//! `/lib/<tuple>`, `/usr/lib/<tuple>`, then the cross sysroot `/usr/<tuple>/lib`) and copied
//! into `/lib/<tuple>/`, where the target's dynamic loader searches, plus the loader at its path.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::archive::{Entry, TarOptions};
use forge_core::process::Cmd;
use forge_core::target::TargetInfo;
use forge_core::{ResultExt, Shell};

use crate::oci::{BlobRef, Format};

/// A built layer.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The gzipped tar.
    pub blob: std::sync::Arc<Vec<u8>>,
    pub blob_ref: BlobRef,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// What it holds, for the image history.
    pub comment: String,
}

/// Builds a layer from entries.
pub fn build(entries: Vec<Entry>, mtime: u64, format: Format, comment: &str) -> Result<Layer> {
    let opts = TarOptions {
        mtime,
        dot_prefix: false,
        root_entry: false,
        implied_dir_mode: 0o755,
    };
    let tar = forge_core::archive::write_tar(Vec::new(), entries, &opts)?;
    from_tar(&tar, format, comment)
}

/// Wraps an uncompressed tar as a layer. The gzip of a tar seen before comes from the layer
/// cache ([`cached_gzip`]), so an unchanged image is not compressed again.
pub fn from_tar(tar: &[u8], format: Format, comment: &str) -> Result<Layer> {
    let diff_hex = forge_core::digest::sha256_hex(tar);
    let diff_id = format!("sha256:{diff_hex}");
    let cache = crate::base::cache_dir();
    let blob = match cached_gzip(&cache, &diff_hex) {
        Some(blob) => blob,
        None => {
            let mut gz = flate2::GzBuilder::new().mtime(0).write(
                Vec::with_capacity(tar.len() / 2),
                flate2::Compression::new(6),
            );
            gz.write_all(tar).context("failed to compress a layer")?;
            let blob = gz.finish().context("failed to compress a layer")?;
            store_gzip(&cache, &diff_hex, &blob);
            blob
        }
    };
    let blob_ref = BlobRef::of_bytes(&blob, format.layer_gzip());
    Ok(Layer {
        blob: std::sync::Arc::new(blob),
        blob_ref,
        diff_id,
        comment: comment.to_string(),
    })
}

/// Where the layer cache maps the SHA-256 of a tar to the digest of its gzip (the gzip itself is
/// in the blob cache, content-addressed). Keyed by our version as well: another version might
/// compress the same tar to other bytes, and a cache must not change what we produce.
fn gzip_index(cache: &Path) -> PathBuf {
    cache.join(concat!("layers-gzip6-", env!("CARGO_PKG_VERSION")))
}

/// The cached gzip of the tar whose SHA-256 is `diff_hex`, verified against its digest.
fn cached_gzip(cache: &Path, diff_hex: &str) -> Option<Vec<u8>> {
    let digest = std::fs::read_to_string(gzip_index(cache).join(diff_hex)).ok()?;
    let digest = digest.trim();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let blob = std::fs::read(cache.join("sha256").join(digest)).ok()?;
    (forge_core::digest::sha256_hex(&blob) == digest).then_some(blob)
}

/// Remembers the gzip of a tar. Best effort: the cache only saves time, so a cache that cannot
/// be written (read-only home, full disk) is not an error.
fn store_gzip(cache: &Path, diff_hex: &str, blob: &[u8]) {
    let digest = forge_core::digest::sha256_hex(blob);
    let blob_path = cache.join("sha256").join(&digest);
    let stored = (blob_path.is_file()
        || forge_core::fsx::create_dir_all(&cache.join("sha256"))
            .and_then(|()| forge_core::fsx::write_atomic(&blob_path, blob))
            .is_ok())
        && forge_core::fsx::create_dir_all(&gzip_index(cache)).is_ok();
    if stored {
        let _ = forge_core::fsx::write_atomic(&gzip_index(cache).join(diff_hex), digest.as_bytes());
    }
}

/// `/etc/passwd`, `/etc/group` with root and the non-root user 65532, and a sticky `/tmp`: what
/// programs expect to find even in a `scratch` image.
pub fn base_files() -> Result<Vec<Entry>> {
    Ok(vec![
        Entry::bytes("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n".to_vec(), 0o644)?,
        Entry::bytes("etc/group", b"root:x:0:\nnonroot:x:65532:\n".to_vec(), 0o644)?,
        Entry::dir("tmp", 0o1777)?,
        {
            let mut home = Entry::dir("home/nonroot", 0o700)?;
            home.uid = 65532;
            home.gid = 65532;
            home.user = "nonroot".into();
            home.group = "nonroot".into();
            home
        },
    ])
}

/// The ELF dynamic information of a file: interpreter and needed libraries.
#[derive(Debug, Default)]
pub struct DynamicInfo {
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
}

/// Reads `PT_INTERP` and `DT_NEEDED` with the target's `readelf`.
pub fn dynamic_info(
    path: &Path,
    target: &TargetInfo,
    host: &str,
    shell: &Shell,
) -> Result<DynamicInfo> {
    let readelf = forge_core::build::binutil(Some(target), host, "readelf");
    let out = Cmd::new(&readelf)
        .args(["--program-headers", "--dynamic", "--wide"])
        .arg(path)
        .install_hint(
            "install binutils (`apt-get install binutils`, or binutils-<arch> for foreign targets)",
        )
        .read(shell)
        .with_context(|| format!("failed to read the ELF headers of `{}`", path.display()))?;
    let mut info = DynamicInfo::default();
    for line in out.lines() {
        if let Some(rest) = line.split("[Requesting program interpreter: ").nth(1) {
            info.interpreter = rest.split(']').next().map(str::to_string);
        }
        if line.contains("(NEEDED)") {
            if let Some(lib) = line
                .split("Shared library: [")
                .nth(1)
                .and_then(|r| r.split(']').next())
            {
                info.needed.push(lib.to_string());
            }
        }
    }
    Ok(info)
}

fn lib_dirs(target: &TargetInfo) -> Vec<PathBuf> {
    let m = &target.multiarch;
    vec![
        PathBuf::from(format!("/lib/{m}")),
        PathBuf::from(format!("/usr/lib/{m}")),
        PathBuf::from(format!("/usr/{m}/lib")),
        PathBuf::from(format!("/usr/{m}/lib64")),
    ]
}

fn find_lib(name: &str, target: &TargetInfo) -> Option<PathBuf> {
    lib_dirs(target)
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.exists())
}

/// The runtime libraries of `binaries` as layer entries (empty for static binaries).
pub fn runtime_libs(
    binaries: &[PathBuf],
    target: &TargetInfo,
    host: &str,
    shell: &Shell,
) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue: Vec<PathBuf> = binaries.to_vec();
    let mut interpreters = BTreeSet::new();
    while let Some(file) = queue.pop() {
        let info = dynamic_info(&file, target, host, shell)?;
        if let Some(i) = info.interpreter {
            interpreters.insert(i);
        }
        for lib in info.needed {
            if !seen.insert(lib.clone()) {
                continue;
            }
            let Some(found) = find_lib(&lib, target) else {
                return Err(anyhow::anyhow!(
                    "`{}` needs `{lib}`, which is not installed for {} on this machine (looked in {})",
                    file.display(),
                    target.dpkg_arch,
                    lib_dirs(target).iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                ))
                .hint(format!(
                    "install the package holding `{lib}` for {0} (`apt-get install NAME:{0}`), or use a base image that has it, e.g. `--base debian:bookworm-slim`",
                    target.dpkg_arch
                ));
            };
            let real = std::fs::canonicalize(&found)
                .with_context(|| format!("failed to resolve `{}`", found.display()))?;
            entries.push(Entry::file(
                &format!("lib/{}/{lib}", target.multiarch),
                real.clone(),
                0o644,
            )?);
            queue.push(real);
        }
    }
    for interp in interpreters {
        let name = Path::new(&interp)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let candidates = [
            PathBuf::from(&interp),
            PathBuf::from(format!("/usr/{}/lib/{name}", target.multiarch)),
            PathBuf::from(format!("/lib/{}/{name}", target.multiarch)),
        ];
        let Some(found) = candidates.iter().find(|p| p.exists()) else {
            return Err(anyhow::anyhow!(
                "the dynamic loader `{interp}` for {} is not installed on this machine",
                target.dpkg_arch
            ))
            .hint(format!(
                "install the C library for {0}: `apt-get install libc6-{0}-cross` (or `libc6:{0}`), or use a base image that has one, e.g. `--base debian:bookworm-slim`",
                target.dpkg_arch
            ));
        };
        let real = std::fs::canonicalize(found)
            .with_context(|| format!("failed to resolve `{}`", found.display()))?;
        entries.push(Entry::file(&interp, real, 0o755)?);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_reproducible() {
        let a = build(base_files().unwrap(), 1000, Format::Oci, "x").unwrap();
        let b = build(base_files().unwrap(), 1000, Format::Oci, "x").unwrap();
        assert_eq!(a.blob_ref, b.blob_ref);
        assert_eq!(a.diff_id, b.diff_id);
        assert_ne!(a.blob_ref.digest, a.diff_id);
    }

    #[test]
    fn gzip_cache_round_trip_and_verification() {
        let dir = tempfile::tempdir().unwrap();
        let diff = "ab".repeat(32);
        assert_eq!(cached_gzip(dir.path(), &diff), None);
        store_gzip(dir.path(), &diff, b"gzip bytes");
        assert_eq!(
            cached_gzip(dir.path(), &diff).as_deref(),
            Some(&b"gzip bytes"[..])
        );
        // A damaged blob is not used.
        let digest = forge_core::digest::sha256_hex(b"gzip bytes");
        std::fs::write(dir.path().join("sha256").join(digest), b"other").unwrap();
        assert_eq!(cached_gzip(dir.path(), &diff), None);
    }

    #[test]
    fn host_binary_runtime_libs() {
        if which::which("readelf").is_err() {
            return;
        }
        let shell = Shell::plain();
        let t = forge_core::target::lookup(forge_core::target::host_triple()).unwrap();
        let libs = runtime_libs(
            &[PathBuf::from("/bin/ls")],
            &t,
            forge_core::target::host_triple(),
            &shell,
        )
        .unwrap();
        let paths: Vec<&str> = libs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.iter().any(|p| p.ends_with("/libc.so.6")), "{paths:?}");
        assert!(paths.iter().any(|p| p.contains("ld-linux")), "{paths:?}");
    }
}

//! Image layers: reproducible gzipped tars of the app, of the runtime libraries a `scratch` image
//! needs, or of a Debian package's files; and the checks of every layer we read.
//!
//! **Streamed, on disk.** A layer is never held in memory: forge-core's reproducible tar writer
//! (`SOURCE_DATE_EPOCH` mtimes) writes into a SHA-256 hasher (the `diff_id`), a gzip encoder
//! (zero header mtime), a second hasher (the digest) and a file in the blob cache
//! (`FORGE_BLOB_CACHE`, named by its digest; a scratch directory when the cache cannot be
//! written). Same inputs, same digests. The tar is hashed first, alone (cheap next to gzip): when
//! the cache already holds the gzip of that tar, compression is skipped (it was most of a
//! re-push's time). A [`Layer`] is then a [`BlobFile`], pushed and copied from disk.
//!
//! **Layers we read** (a base image's, a package's `data.tar`) are checked while streaming
//! ([`scan`]), as the OCI image spec ("Image Layer Filesystem Changeset") says a layer is made:
//! paths relative and without `..`; regular files, directories, symlinks (any target: a runtime
//! resolves it inside the root), hard links (to a path inside the root), character and block
//! devices and FIFOs, nothing else; whiteouts `.wh.NAME` naming a real name, the opaque marker
//! `.wh..wh..opq`, and no other `.wh..wh.` name (reserved). A base layer's inflated size and
//! entry count are bounded ([`Limits`]), so a gzip bomb stops at the limit with an error naming
//! it, and its `diff_id` is checked against the config's while it streams. The files of a
//! package become a layer of ours, where a `.wh.` name would delete a file of the base: refused.
//!
//! For `scratch`, the binary's ELF `NEEDED` libraries and its interpreter (`PT_INTERP`) are
//! looked up, recursively, in the target's library directories on this machine (Debian multiarch
//! `/lib/<tuple>`, `/usr/lib/<tuple>`, then the cross sysroot `/usr/<tuple>/lib`) and copied
//! into `/lib/<tuple>/`, where the target's dynamic loader searches, plus the loader at its path.

use std::collections::BTreeSet;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use forge_core::archive::{BoundedReader, Entry, LimitExceeded, TarOptions};
use forge_core::digest::{HashingReader, HashingWriter};
use forge_core::target::TargetInfo;
use forge_core::ResultExt;

use crate::oci::{BlobRef, Format};

/// A blob on disk: in the blob cache, or in a scratch directory that lives as long as the value.
#[derive(Clone, Debug)]
pub struct BlobFile {
    pub path: PathBuf,
    _scratch: Option<Arc<tempfile::TempDir>>,
}

impl BlobFile {
    /// A blob at a path that outlives the run (the blob cache, an OCI layout).
    pub fn at(path: PathBuf) -> BlobFile {
        BlobFile {
            path,
            _scratch: None,
        }
    }

    pub fn open(&self) -> Result<std::fs::File> {
        std::fs::File::open(&self.path)
            .with_context(|| format!("failed to open `{}`", self.path.display()))
    }

    /// The blob as an HTTP body, streamed from disk.
    pub fn body(&self) -> Result<forge_core::http::Body> {
        forge_core::http::Body::file(&self.path)
    }
}

/// A built or pulled layer.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The gzipped tar.
    pub blob: BlobFile,
    pub blob_ref: BlobRef,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub diff_size: u64,
    /// What it holds, for the image history.
    pub comment: String,
}

/// Bounds on a layer we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// Bytes of the uncompressed tar.
    pub max_size: u64,
    /// Entries of the tar.
    pub max_entries: u64,
}

impl Limits {
    /// For our own layers (a package we built): checked, not bounded.
    pub const NONE: Limits = Limits {
        max_size: u64::MAX - 1,
        max_entries: u64::MAX,
    };
}

/// What [`scan`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Lowercase hex SHA-256 of the whole tar stream.
    pub sha256: String,
    pub size: u64,
    pub entries: u64,
}

/// Why [`scan`] stopped at a limit, for the caller to name the key that raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    Size(u64),
    Entries(u64),
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Size(n) => write!(f, "it inflates to more than {n} bytes"),
            Exceeded::Entries(n) => write!(f, "it has more than {n} entries"),
        }
    }
}

impl std::error::Error for Exceeded {}

/// Reads a layer's tar to its end, checking every entry (module docs), within `limits`; returns
/// its SHA-256 (the `diff_id`), size and entry count. `own`: the tar becomes a layer of ours, so
/// whiteout names are refused instead of checked.
pub fn scan(reader: impl Read, limits: Limits, own: bool) -> Result<Scanned> {
    let bounded = BoundedReader::new(reader, limits.max_size);
    let hashing = HashingReader::new(bounded);
    let mut archive = tar::Archive::new(hashing);
    let mut entries = 0u64;
    let result = (|| -> Result<()> {
        for entry in archive.entries().context("not a tar archive")? {
            let entry = entry.context("corrupt tar entry")?;
            entries += 1;
            if entries > limits.max_entries {
                return Err(Exceeded::Entries(limits.max_entries).into());
            }
            check_entry(&entry, own)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        return Err(match LimitExceeded::find(&e) {
            Some(_) => Exceeded::Size(limits.max_size).into(),
            None => e,
        });
    }
    // The end-of-archive blocks and any padding after them count for the diff_id too.
    let mut hashing = archive.into_inner();
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| {
        if e.get_ref().is_some_and(|i| i.is::<LimitExceeded>()) {
            anyhow::Error::new(Exceeded::Size(limits.max_size))
        } else {
            anyhow::Error::new(e).context("failed to read a layer")
        }
    })?;
    let (_, sha256, size) = hashing.finish();
    Ok(Scanned {
        sha256,
        size,
        entries,
    })
}

/// One entry against the OCI changeset rules (module docs).
fn check_entry<R: Read>(entry: &tar::Entry<'_, R>, own: bool) -> Result<()> {
    use tar::EntryType as T;
    let path = entry.path().context("invalid path in tar")?.into_owned();
    let text = path.to_string_lossy().into_owned();
    if text != "./" && text != "." {
        forge_core::archive::check_member_path(&path)?;
    }
    let kind = entry.header().entry_type();
    match kind {
        T::Regular | T::Continuous | T::Directory | T::Symlink | T::Char | T::Block | T::Fifo => {}
        T::Link => {
            let target = entry
                .link_name()
                .context("invalid link in tar")?
                .with_context(|| format!("hard link `{text}` has no target"))?;
            forge_core::archive::check_member_path(&target)
                .with_context(|| format!("hard link `{text}` points outside the layer's root"))?;
        }
        other => bail!("`{text}` is a tar entry of type {other:?}, which a layer may not hold"),
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(hidden) = name.strip_prefix(".wh.") {
        if own {
            bail!(
                "`{text}` would be a whiteout in an image (it would delete `{hidden}` of the \
                 layers below): rename it"
            );
        }
        if let Some(reserved) = hidden.strip_prefix(".wh.") {
            if reserved != ".opq" {
                bail!("`{text}` uses the reserved whiteout prefix `.wh..wh.`");
            }
        } else if hidden.is_empty() || hidden == "." || hidden == ".." {
            bail!("`{text}` is a whiteout of no file");
        }
    }
    Ok(())
}

/// Checks a downloaded base layer: its tar streams through [`scan`] within `limits`, and its
/// digest must be `diff_id`. Returns the tar's size.
pub fn verify(blob: &Path, diff_id: &str, limits: Limits) -> Result<u64> {
    let file = std::fs::File::open(blob)
        .with_context(|| format!("failed to open `{}`", blob.display()))?;
    let gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file));
    let scanned = scan(gz, limits, false)?;
    let got = format!("sha256:{}", scanned.sha256);
    if got != diff_id {
        bail!(
            "its content does not match its diff_id: the config says {diff_id}, the layer is {got}"
        );
    }
    Ok(scanned.size)
}

/// Builds a layer from entries.
pub fn build(entries: Vec<Entry>, mtime: u64, format: Format, comment: &str) -> Result<Layer> {
    let opts = TarOptions {
        mtime,
        dot_prefix: false,
        root_entry: false,
        implied_dir_mode: 0o755,
    };
    let (_, diff_hex, diff_size) = forge_core::archive::write_tar(
        HashingWriter::new(std::io::sink()),
        entries.clone(),
        &opts,
    )?
    .finish();
    layer_of(&diff_hex, diff_size, format, comment, |out| {
        forge_core::archive::write_tar(out, entries.clone(), &opts).map(|_| ())
    })
}

/// A layer of an uncompressed tar that `open` reads (a package's `data.tar`), checked by
/// [`scan`] as a layer of ours (no whiteouts). `what` names it in errors.
pub fn from_tar(
    open: impl Fn() -> Result<Box<dyn Read>>,
    what: &str,
    format: Format,
    comment: &str,
) -> Result<Layer> {
    let scanned =
        scan(open()?, Limits::NONE, true).with_context(|| format!("unsafe or invalid {what}"))?;
    layer_of(&scanned.sha256, scanned.size, format, comment, |out| {
        let mut reader = open()?;
        std::io::copy(&mut reader, out)
            .map(|_| ())
            .with_context(|| format!("failed to read {what}"))
    })
}

/// The layer of the tar whose SHA-256 is `diff_hex`: from the cache, or gzipped from what
/// `write` produces (which must be that same tar).
fn layer_of(
    diff_hex: &str,
    diff_size: u64,
    format: Format,
    comment: &str,
    write: impl Fn(&mut dyn Write) -> Result<()>,
) -> Result<Layer> {
    let cache = crate::base::cache_dir();
    let diff_id = format!("sha256:{diff_hex}");
    let (blob, digest, size) = match cached_gzip(&cache, diff_hex) {
        Some((path, digest, size)) => (BlobFile::at(path), digest, size),
        None => {
            let (blob, digest, size, tar_hex) = gzip_to_store(&cache, &write)?;
            if tar_hex != diff_hex {
                bail!(
                    "the files of the layer \"{comment}\" changed while it was being built; \
                     run again"
                );
            }
            if blob._scratch.is_none() {
                remember_gzip(&cache, diff_hex, &digest);
            }
            (blob, digest, size)
        }
    };
    Ok(Layer {
        blob,
        blob_ref: BlobRef {
            digest: format!("sha256:{digest}"),
            size,
            media_type: format.layer_gzip().to_string(),
        },
        diff_id,
        diff_size,
        comment: comment.to_string(),
    })
}

/// Gzips what `write` produces into the blob cache (a scratch directory when the cache cannot
/// be written): (blob, gzip sha256 hex, gzip size, tar sha256 hex).
fn gzip_to_store(
    cache: &Path,
    write: &dyn Fn(&mut dyn Write) -> Result<()>,
) -> Result<(BlobFile, String, u64, String)> {
    let store = cache.join("sha256");
    let (dir, scratch) = match forge_core::fsx::create_dir_all(&store) {
        Ok(()) => (store, None),
        Err(_) => {
            let tmp = tempfile::Builder::new()
                .prefix("forge-layers-")
                .tempdir()
                .context("failed to create a directory for image layers")?;
            (tmp.path().to_path_buf(), Some(Arc::new(tmp)))
        }
    };
    let tmp = tempfile::Builder::new()
        .prefix(".layer.")
        .tempfile_in(&dir)
        .with_context(|| format!("failed to create a layer file in `{}`", dir.display()))?;
    let file = tmp
        .reopen()
        .with_context(|| format!("failed to open `{}`", tmp.path().display()))?;
    let gz_out = HashingWriter::new(BufWriter::with_capacity(1 << 16, file));
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(gz_out, flate2::Compression::new(6));
    let mut tar_out = HashingWriter::new(gz);
    write(&mut tar_out).context("failed to write a layer")?;
    let (gz, tar_hex, _) = tar_out.finish();
    let (buffered, digest, size) = gz.finish().context("failed to compress a layer")?.finish();
    buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("failed to write `{}`", tmp.path().display()))?;
    let path = dir.join(&digest);
    tmp.persist(&path)
        .map_err(|e| e.error)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok((
        BlobFile {
            path,
            _scratch: scratch,
        },
        digest,
        size,
        tar_hex,
    ))
}

/// Where the layer cache maps the SHA-256 of a tar to the digest of its gzip (the gzip itself is
/// in the blob cache, content-addressed). Keyed by our version as well: another version might
/// compress the same tar to other bytes, and a cache must not change what we produce.
fn gzip_index(cache: &Path) -> PathBuf {
    cache.join(concat!("layers-gzip6-", env!("CARGO_PKG_VERSION")))
}

/// The cached gzip of the tar whose SHA-256 is `diff_hex`, verified against its digest (streamed):
/// (path, digest hex, size).
fn cached_gzip(cache: &Path, diff_hex: &str) -> Option<(PathBuf, String, u64)> {
    let digest = std::fs::read_to_string(gzip_index(cache).join(diff_hex)).ok()?;
    let digest = digest.trim().to_string();
    if !forge_core::digest::is_sha256_digest(&format!("sha256:{digest}")) {
        return None;
    }
    let path = cache.join("sha256").join(&digest);
    let size = std::fs::metadata(&path).ok()?.len();
    (forge_core::digest::sha256_file(&path).ok()? == digest).then_some((path, digest, size))
}

/// Remembers the gzip of a tar. Best effort: the cache only saves time, so a cache that cannot
/// be written (read-only home, full disk) is not an error.
fn remember_gzip(cache: &Path, diff_hex: &str, digest: &str) {
    if forge_core::fsx::create_dir_all(&gzip_index(cache)).is_ok() {
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

/// Reads `PT_INTERP` and `DT_NEEDED` of `path` (with the `object` crate, through forge-deb's
/// ELF reader: no target `readelf` is needed).
pub fn dynamic_info(path: &Path) -> Result<DynamicInfo> {
    let facts = cargo_forge_deb::elf::read(path)
        .with_context(|| format!("failed to read the ELF headers of `{}`", path.display()))?;
    Ok(DynamicInfo {
        interpreter: facts.interpreter,
        needed: facts.needed,
    })
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
pub fn runtime_libs(binaries: &[PathBuf], target: &TargetInfo) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue: Vec<PathBuf> = binaries.to_vec();
    let mut interpreters = BTreeSet::new();
    while let Some(file) = queue.pop() {
        let info = dynamic_info(&file)?;
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
    fn layers_are_reproducible_and_on_disk() {
        let a = build(base_files().unwrap(), 1000, Format::Oci, "x").unwrap();
        let b = build(base_files().unwrap(), 1000, Format::Oci, "x").unwrap();
        assert_eq!(a.blob_ref, b.blob_ref);
        assert_eq!(a.diff_id, b.diff_id);
        assert_ne!(a.blob_ref.digest, a.diff_id);
        let on_disk = std::fs::read(&a.blob.path).unwrap();
        assert_eq!(crate::registry::digest_of(&on_disk), a.blob_ref.digest);
        assert_eq!(on_disk.len() as u64, a.blob_ref.size);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(on_disk.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(crate::registry::digest_of(&tar), a.diff_id);
        assert_eq!(tar.len() as u64, a.diff_size);
        verify(&a.blob.path, &a.diff_id, Limits::NONE).unwrap();
    }

    #[test]
    fn gzip_cache_round_trip_and_verification() {
        let dir = tempfile::tempdir().unwrap();
        let diff = "ab".repeat(32);
        assert_eq!(cached_gzip(dir.path(), &diff), None);
        let digest = forge_core::digest::sha256_hex(b"gzip bytes");
        std::fs::create_dir_all(dir.path().join("sha256")).unwrap();
        std::fs::write(dir.path().join("sha256").join(&digest), b"gzip bytes").unwrap();
        remember_gzip(dir.path(), &diff, &digest);
        let (path, d, size) = cached_gzip(dir.path(), &diff).unwrap();
        assert_eq!((d.as_str(), size), (digest.as_str(), 10));
        assert_eq!(std::fs::read(path).unwrap(), b"gzip bytes");
        // A damaged blob is not used.
        std::fs::write(dir.path().join("sha256").join(&digest), b"other").unwrap();
        assert_eq!(cached_gzip(dir.path(), &diff), None);
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(0);
            h.set_mode(0o644);
            let field = &mut h.as_gnu_mut().unwrap().name;
            field[..path.len()].copy_from_slice(path.as_bytes());
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            b.append(&h, std::io::empty()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn layer_entries_follow_the_oci_changeset_rules() {
        use tar::EntryType as T;
        let ok = tar_of(&[
            ("etc/", T::Directory, ""),
            ("etc/passwd", T::Regular, ""),
            ("etc/.wh.shadow", T::Regular, ""),
            ("var/.wh..wh..opq", T::Regular, ""),
            ("bin/sh", T::Symlink, "/usr/bin/dash"),
            ("bin/rel", T::Symlink, "../usr/bin/x"),
            ("etc/hard", T::Link, "etc/passwd"),
            ("dev/null", T::Char, ""),
            ("dev/sda", T::Block, ""),
            ("run/fifo", T::Fifo, ""),
        ]);
        let s = scan(ok.as_slice(), Limits::NONE, false).unwrap();
        assert_eq!(s.entries, 10);
        assert_eq!(s.size, ok.len() as u64);
        assert_eq!(s.sha256, forge_core::digest::sha256_hex(&ok));
        for (bad, why) in [
            (tar_of(&[("../etc/passwd", T::Regular, "")]), "escapes"),
            (tar_of(&[("/etc/passwd", T::Regular, "")]), "absolute"),
            (tar_of(&[("etc/x", T::Link, "../../etc/shadow")]), "outside"),
            (tar_of(&[("etc/.wh..wh.plnk", T::Regular, "")]), "reserved"),
            (tar_of(&[("etc/.wh.", T::Regular, "")]), "no file"),
            (tar_of(&[("x", T::new(b'Z'), "")]), "may not hold"),
        ] {
            let err = scan(bad.as_slice(), Limits::NONE, false).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{why}: {err:#}");
        }
        // In a layer of our own, a whiteout name would delete a file of the base.
        let err = scan(ok.as_slice(), Limits::NONE, true).unwrap_err();
        assert!(
            format!("{err:#}").contains("would be a whiteout"),
            "{err:#}"
        );
    }

    #[test]
    fn limits_stop_bombs_and_floods() {
        use tar::EntryType as T;
        // 64 MiB of zeros in one entry: about 64 KiB of gzip.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(64 << 20);
        h.set_mode(0o644);
        h.set_path("zeros").unwrap();
        h.set_cksum();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        {
            let mut inner = tar::Builder::new(&mut gz);
            inner.append(&h, std::io::repeat(0).take(64 << 20)).unwrap();
            inner.finish().unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        drop(b.finish());
        let limits = Limits {
            max_size: 1 << 20,
            max_entries: 100,
        };
        let err = scan(flate2::read::GzDecoder::new(bomb.as_slice()), limits, false).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Exceeded>(),
            Some(&Exceeded::Size(1 << 20)),
            "{err:#}"
        );
        let many: Vec<(String, T, &str)> = (0..101)
            .map(|i| (format!("f{i}"), T::Regular, ""))
            .collect();
        let many: Vec<(&str, T, &str)> =
            many.iter().map(|(p, t, l)| (p.as_str(), *t, *l)).collect();
        let err = scan(tar_of(&many).as_slice(), limits, false).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Exceeded>(),
            Some(&Exceeded::Entries(100))
        );
    }

    #[test]
    fn host_binary_runtime_libs() {
        let t = forge_core::target::lookup(forge_core::target::host_triple()).unwrap();
        let libs = runtime_libs(&[PathBuf::from("/bin/ls")], &t).unwrap();
        let paths: Vec<&str> = libs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.iter().any(|p| p.ends_with("/libc.so.6")), "{paths:?}");
        assert!(paths.iter().any(|p| p.contains("ld-linux")), "{paths:?}");
    }
}

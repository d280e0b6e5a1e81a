//! Staging the release's files: archives per target, `SHA256SUMS`, signatures.
//!
//! Archives are reproducible (forge-core's tar and zip writers), named
//! `<package>-<version>-<target>.<ext>` and holding `<package>-<version>-<target>/` with the
//! binaries, README and LICENSE files and configured extras. Every archive streams: files →
//! tar → compressor → file, and zip entries are written by the zip crate's streaming writer
//! (through `forge_core::archive::write_zip`), so the memory a
//! release takes does not depend on the size of what it ships. Signatures are detached: gpg
//! (`.asc`, via the user's gpg and agent — keys never pass through us) and minisign
//! (`.minisig`, pure Rust).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use forge_core::archive::{Entry, TarOptions};
use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::Shell;

use crate::stage::{Asset, AssetKind};

/// Archive formats (`archive-format`), one closed set for the config (serde) and a command line
/// (clap), spelled as the config spells them, in JSON output too (`"tar.gz"`). An unknown value
/// is an error that lists these. `tgz` and `txz` are accepted aliases.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
pub enum ArchiveFormat {
    #[serde(rename = "tar.gz", alias = "tgz")]
    #[value(name = "tar.gz", alias = "tgz")]
    TarGz,
    #[serde(rename = "tar.xz", alias = "txz")]
    #[value(name = "tar.xz", alias = "txz")]
    TarXz,
    #[serde(rename = "zip")]
    #[value(name = "zip")]
    Zip,
}

impl ArchiveFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::TarXz => "tar.xz",
            ArchiveFormat::Zip => "zip",
        }
    }
}

/// One file of an archive: (path inside, source, mode).
pub type ArchiveFile = (String, PathBuf, u32);

/// Writes an archive of `files` under the directory `root_name` into `out_dir`.
pub fn write_archive(
    out_dir: &Path,
    root_name: &str,
    files: &[ArchiveFile],
    format: ArchiveFormat,
    mtime: u64,
) -> Result<PathBuf> {
    let path = out_dir.join(format!("{root_name}.{}", format.extension()));
    let mut out = forge_core::fsx::AtomicFile::create(&path)?;
    match format {
        ArchiveFormat::TarGz | ArchiveFormat::TarXz => {
            let entries: Vec<Entry> = files
                .iter()
                .map(|(name, src, mode)| {
                    Entry::file(&format!("{root_name}/{name}"), src.clone(), *mode)
                })
                .collect::<Result<_>>()?;
            let opts = TarOptions {
                mtime,
                ..Default::default()
            };
            if format == ArchiveFormat::TarGz {
                let gz = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(&mut out, flate2::Compression::best());
                forge_core::archive::write_tar(gz, entries, &opts)?
                    .finish()
                    .context("failed to compress an archive")?;
            } else {
                let xz = liblzma::write::XzEncoder::new(&mut out, 6);
                forge_core::archive::write_tar(xz, entries, &opts)?
                    .finish()
                    .context("failed to compress an archive")?;
            }
        }
        ArchiveFormat::Zip => {
            let files: Vec<forge_core::archive::ZipFile> = files
                .iter()
                .map(|(name, src, mode)| (format!("{root_name}/{name}"), src.clone(), *mode))
                .collect();
            forge_core::archive::write_zip(&mut out, &files, mtime, &path)?;
        }
    }
    out.commit()?;
    Ok(path)
}

/// A full file system under `dir` as one message that names it and says what to do (the
/// cause, "No space left on device … at path …", stays in the chain). Other errors unchanged.
pub fn explain_disk_full(err: anyhow::Error, dir: &Path) -> anyhow::Error {
    let full = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| {
            e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
        })
    });
    if !full {
        return err;
    }
    forge_core::exit::with_hint(
        err.context(format!(
            "no space left on the file system of `{}`: the release was not staged",
            dir.display()
        )),
        "free space there, or point CARGO_TARGET_DIR at a larger file system, and run the same command again"
            .into(),
    )
}

/// `SHA256SUMS` over the assets (sorted by name), in `sha256sum -c` format.
pub fn write_checksums(dir: &Path, assets: &[Asset]) -> Result<Asset> {
    let mut sorted: Vec<&Asset> = assets.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let text: String = sorted
        .iter()
        .map(|a| format!("{}  {}\n", a.sha256, a.name))
        .collect();
    let path = dir.join("SHA256SUMS");
    forge_core::fsx::write_atomic(&path, text.as_bytes())?;
    Asset::of_file(&path, AssetKind::Checksums, None)
}

/// Checks, before anything is built, that gpg can sign with `key` (exit 2 otherwise), with
/// forge-core's gpg wrapper (a secret key listed, not just gpg's exit status).
pub fn check_gpg_key(key: &str, shell: &Shell) -> Result<()> {
    forge_core::gpg::Gpg::default().check_secret_key(Some(key), shell)
}

/// A detached ASCII-armoured gpg signature `<file>.asc`.
pub fn gpg_sign(file: &Path, key: &str, shell: &Shell) -> Result<Asset> {
    let sig = PathBuf::from(format!("{}.asc", file.display()));
    let _ = std::fs::remove_file(&sig);
    let bytes = forge_core::gpg::Gpg::default()
        .detach_sign(file, Some(key), shell)
        .kind(ErrorKind::Check)?;
    forge_core::fsx::write_atomic(&sig, &bytes)?;
    Asset::of_file(&sig, AssetKind::Signature, None)
}

/// A minisign signature `<file>.minisig` with the secret key at `key_path` (password from
/// `MINISIGN_PASSWORD`, none if unset).
pub fn minisign_sign(file: &Path, key_path: &Path) -> Result<Asset> {
    let key_text = forge_core::fsx::read_to_string(key_path)?;
    let box_ = minisign::SecretKeyBox::from_string(&key_text)
        .with_context(|| format!("`{}` is not a minisign secret key", key_path.display()))
        .kind(ErrorKind::Usage)?;
    let password = std::env::var("MINISIGN_PASSWORD").ok();
    if let Some(p) = &password {
        forge_core::secret::register(p);
    }
    let sk = box_
        .into_secret_key(password)
        .map_err(|e| anyhow::anyhow!("cannot unlock minisign key `{}`: {e}", key_path.display()))
        .kind(ErrorKind::Usage)
        .hint("set MINISIGN_PASSWORD to the key's password")?;
    let data = std::fs::File::open(file)
        .with_context(|| format!("failed to open `{}`", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sig = minisign::sign(None, &sk, data, Some(&format!("file:{name}")), None)
        .map_err(|e| anyhow::anyhow!("minisign failed on `{}`: {e}", file.display()))?;
    let out = PathBuf::from(format!("{}.minisig", file.display()));
    forge_core::fsx::write_atomic(&out, sig.to_string().as_bytes())?;
    Asset::of_file(&out, AssetKind::Signature, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archives_are_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("app");
        std::fs::write(&src, b"binary").unwrap();
        for format in [
            ArchiveFormat::TarGz,
            ArchiveFormat::TarXz,
            ArchiveFormat::Zip,
        ] {
            let a = tempfile::tempdir().unwrap();
            let b = tempfile::tempdir().unwrap();
            let files = vec![("app".to_string(), src.clone(), 0o755)];
            let pa = write_archive(a.path(), "app-1.0.0-x", &files, format, 1_700_000_000).unwrap();
            let pb = write_archive(b.path(), "app-1.0.0-x", &files, format, 1_700_000_000).unwrap();
            let bytes = std::fs::read(&pa).unwrap();
            assert_eq!(bytes, std::fs::read(pb).unwrap(), "{format:?}");
            if format == ArchiveFormat::Zip {
                // Written as a stream, read back as any zip.
                let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
                let mut entry = zip.by_name("app-1.0.0-x/app").unwrap();
                assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                assert_eq!(content, b"binary");
            }
        }
    }

    #[test]
    fn checksums_format() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), b"2").unwrap();
        std::fs::write(dir.path().join("a"), b"1").unwrap();
        let assets = vec![
            Asset::of_file(&dir.path().join("b"), AssetKind::Archive, None).unwrap(),
            Asset::of_file(&dir.path().join("a"), AssetKind::Archive, None).unwrap(),
        ];
        let sums = write_checksums(dir.path(), &assets).unwrap();
        let text = std::fs::read_to_string(sums.path).unwrap();
        assert!(
            text.starts_with(&format!("{}  a\n", forge_core::digest::sha256_hex(b"1"))),
            "{text}"
        );
    }
}

//! `--sign`: debsigs-style signatures inside a `.deb`, and the small gpg driver the APT repository
//! code shares.
//!
//! A debsigs signature is a detached OpenPGP signature over the concatenated *contents* of the
//! members `debian-binary`, `control.tar.*` and `data.tar.*`, in that order, stored in the package
//! itself as an extra ar member named `_gpgorigin`. dpkg ignores members whose names start with
//! `_`, so a signed package installs exactly as an unsigned one; `debsig-verify` (or plain
//! `gpg --verify`, see [`verify_deb`]) checks it. Signing is therefore a rewrite of the ar archive:
//! every member is copied as it is, in its order, an existing `_gpgorigin` is dropped and the new
//! one appended last, with the same mtime as the other members (so signing keeps the package
//! reproducible up to the signature itself), uid/gid 0 and mode `100644`. The new archive is
//! written under a temporary name and renamed over the old one, so an interrupted run leaves the
//! unsigned package, never a truncated one.
//!
//! Both passes over the package stream (the payload to sign is spooled to a temporary file, the
//! rewrite copies member by member), so memory use does not grow with the package size.
//!
//! gpg is driven through its command line ([`Gpg`], forge-core's), the one interface every gpg installation,
//! agent setup and smartcard supports: `--batch` always, `--homedir` when given (otherwise
//! `GNUPGHOME` or `~/.gnupg`, as gpg itself decides), `--local-user` for the key. Before signing,
//! the secret key is looked up so that a missing key is reported as such (with how to create or
//! import one) rather than as gpg's generic failure.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::fsx::AtomicFile;
use forge_core::Shell;

/// The ar member holding a debsigs "origin" signature.
pub const ORIGIN_MEMBER: &str = "_gpgorigin";

/// The gpg command line: forge-core's one gpg wrapper, shared with the release's signatures.
pub use forge_core::gpg::Gpg;

/// Signs `deb` in place with `key` (gpg's default key when `None`), using gpg's default home.
pub fn sign_deb(deb: &Path, key: Option<&str>, shell: &Shell) -> Result<()> {
    sign_deb_with(deb, key, &Gpg::default(), shell)
}

/// [`sign_deb`] with an explicit gpg setup (e.g. a `--homedir`).
pub fn sign_deb_with(deb: &Path, key: Option<&str>, gpg: &Gpg, shell: &Shell) -> Result<()> {
    let members = list_members(deb)?;
    let payload = payload_members(deb, &members)?;
    gpg.check_secret_key(key, shell)?;
    shell.status(
        "Signing",
        format!(
            "{} ({})",
            deb.display(),
            match key {
                Some(k) => format!("gpg key {k}"),
                None => "default gpg key".to_string(),
            }
        ),
    );

    let dir = tempfile::tempdir().context("failed to create a temporary directory for signing")?;
    let combined = dir.path().join("payload");
    write_payload(deb, &payload, &combined)?;
    let signature = gpg.detach_sign(&combined, key, shell)?;

    // The signature member carries the package's timestamp, like its other members.
    let mtime = members.first().map_or(0, |m| m.mtime);
    rewrite_with_signature(deb, &signature, mtime)
        .with_context(|| format!("failed to add the signature to `{}`", deb.display()))
}

/// Verifies the `_gpgorigin` signature of `deb` with gpg's default keyring.
pub fn verify_deb(deb: &Path, shell: &Shell) -> Result<()> {
    verify_deb_with(deb, &Gpg::default(), shell).map(|_| ())
}

/// [`verify_deb`] with an explicit gpg setup; returns the signing key's fingerprint.
pub fn verify_deb_with(deb: &Path, gpg: &Gpg, shell: &Shell) -> Result<String> {
    let members = list_members(deb)?;
    let payload = payload_members(deb, &members)?;
    if !members.iter().any(|m| m.name == ORIGIN_MEMBER) {
        return Err(anyhow::anyhow!(
            "`{}` is not signed: it has no `{ORIGIN_MEMBER}` member",
            deb.display()
        ))
        .kind(ErrorKind::Check);
    }
    let dir =
        tempfile::tempdir().context("failed to create a temporary directory for verifying")?;
    let combined = dir.path().join("payload");
    write_payload(deb, &payload, &combined)?;
    let sig = dir.path().join("signature.asc");
    let mut sig_out =
        File::create(&sig).with_context(|| format!("failed to create `{}`", sig.display()))?;
    copy_member(deb, ORIGIN_MEMBER, &mut sig_out)?;
    drop(sig_out);
    let fpr = gpg
        .verify_detached(&sig, &combined, shell)
        .with_context(|| format!("the signature of `{}` does not verify", deb.display()))?;
    shell.status("Verified", format!("{} (signed by {fpr})", deb.display()));
    Ok(fpr)
}

/// One ar member's header fields.
#[derive(Clone, Debug)]
struct Member {
    name: String,
    mtime: u64,
}

fn list_members(deb: &Path) -> Result<Vec<Member>> {
    let mut archive = crate::writer::open_deb(deb)?;
    let mut members = Vec::new();
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(|e| crate::writer::not_a_deb(deb, e))?;
        let h = entry.header();
        members.push(Member {
            name: String::from_utf8_lossy(h.identifier()).into_owned(),
            mtime: h.mtime(),
        });
    }
    Ok(members)
}

/// The names of the signed members, checked for a well-formed package: `debian-binary` first,
/// then one `control.tar*` and one `data.tar*`.
fn payload_members(deb: &Path, members: &[Member]) -> Result<Vec<String>> {
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    if names.first() != Some(&"debian-binary") {
        return Err(crate::writer::not_a_deb(
            deb,
            "its first ar member is not `debian-binary`",
        ));
    }
    let control: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with("control.tar"))
        .collect();
    let data: Vec<&&str> = names.iter().filter(|n| n.starts_with("data.tar")).collect();
    if control.len() != 1 || data.len() != 1 {
        return Err(crate::writer::not_a_deb(
            deb,
            format!(
                "expected one control.tar and one data.tar member, found {}",
                names.join(", ")
            ),
        ));
    }
    Ok(vec![
        "debian-binary".to_string(),
        control[0].to_string(),
        data[0].to_string(),
    ])
}

fn copy_member(deb: &Path, name: &str, out: &mut impl Write) -> Result<u64> {
    let mut archive = crate::writer::open_deb(deb)?;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| crate::writer::not_a_deb(deb, e))?;
        if entry.header().identifier() == name.as_bytes() {
            return std::io::copy(&mut entry, out)
                .with_context(|| format!("failed to read member `{name}` of `{}`", deb.display()));
        }
    }
    bail!("`{}` has no member `{name}`", deb.display())
}

/// Writes the concatenated contents of `names` (in that order) to `dest`, in one pass over the
/// archive (the order was checked to be the archive's order).
fn write_payload(deb: &Path, names: &[String], dest: &Path) -> Result<()> {
    let file =
        File::create(dest).with_context(|| format!("failed to create `{}`", dest.display()))?;
    let mut out = BufWriter::new(file);
    let mut archive = crate::writer::open_deb(deb)?;
    let mut next = 0;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| crate::writer::not_a_deb(deb, e))?;
        if next < names.len() && entry.header().identifier() == names[next].as_bytes() {
            std::io::copy(&mut entry, &mut out).with_context(|| {
                format!(
                    "failed to read member `{}` of `{}`",
                    names[next],
                    deb.display()
                )
            })?;
            next += 1;
        }
    }
    if next != names.len() {
        return Err(crate::writer::not_a_deb(
            deb,
            format!("its members are not in the order {}", names.join(", ")),
        ));
    }
    out.flush()
        .with_context(|| format!("failed to write `{}`", dest.display()))
}

/// Rewrites `deb` with every member but an old `_gpgorigin`, then the new signature member.
fn rewrite_with_signature(deb: &Path, signature: &[u8], mtime: u64) -> Result<()> {
    let mut out = AtomicFile::create(deb)?;
    {
        let mut builder = forge_core::archive::ArWriter::new(BufWriter::new(&mut out));
        let mut archive = crate::writer::open_deb(deb)?;
        while let Some(entry) = archive.next_entry() {
            let mut entry = entry.map_err(|e| crate::writer::not_a_deb(deb, e))?;
            if entry.header().identifier() == ORIGIN_MEMBER.as_bytes() {
                continue;
            }
            let header = entry.header().clone();
            builder.append_copy(&header, &mut entry)?;
        }
        builder
            .append(ORIGIN_MEMBER, mtime, signature.len() as u64, signature)
            .context("failed to write the signature member")?;
        let mut inner = builder.into_inner()?;
        inner.flush().context("failed to write the archive")?;
    }
    // Keep the package's permissions (AtomicFile commits 0644, which is what packages have).
    out.commit()
}

/// Reads a whole member into memory (small members only: `debian-binary`, signatures).
#[cfg(test)]
fn read_member(deb: &Path, name: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    copy_member(deb, name, &mut buf)?;
    Ok(buf)
}

/// Helpers shared by the tests of this crate's signing users (sign, repo, install test).
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use forge_core::process::Cmd;

    /// A throwaway gpg home with one unprotected ed25519 signing key; returns (home, fingerprint).
    pub(crate) fn throwaway_key(shell: &Shell) -> (tempfile::TempDir, String) {
        // gpg-agent's socket path must stay short: keep the home directly under /tmp.
        let home = tempfile::Builder::new()
            .prefix("fgpg")
            .tempdir_in("/tmp")
            .unwrap();
        let gpg = Gpg::new(Some(home.path()));
        gpg.cmd()
            .args([
                "--passphrase",
                "",
                "--quick-gen-key",
                "Test <t@example.com>",
                "ed25519",
                "sign",
                "never",
            ])
            .output(shell)
            .unwrap();
        let listing = gpg
            .cmd()
            .args(["--with-colons", "--list-secret-keys"])
            .read(shell)
            .unwrap();
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .unwrap();
        (home, fpr)
    }

    /// Stops the gpg-agent of a throwaway home so no daemon outlives the test.
    pub(crate) fn stop_agent(home: &Path, shell: &Shell) {
        let _ = Cmd::new("gpgconf")
            .arg("--homedir")
            .arg(home)
            .args(["--kill", "gpg-agent"])
            .output_unchecked(shell);
    }
}

#[cfg(test)]
#[allow(clippy::print_stderr)]
mod tests {
    use super::*;
    use forge_core::process::Cmd;
    use std::io::Read;
    use std::path::PathBuf;

    use super::test_support::{stop_agent, throwaway_key};

    fn have(tool: &str) -> bool {
        forge_core::process::exists(tool)
    }

    fn tiny_deb(dir: &Path) -> PathBuf {
        let root = dir.join("pkg");
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(root.join("usr/share/doc/tiny")).unwrap();
        std::fs::write(root.join("usr/share/doc/tiny/README"), "hello\n").unwrap();
        std::fs::write(
            root.join("DEBIAN/control"),
            "Package: tiny\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.com>\nDescription: tiny\n",
        )
        .unwrap();
        let deb = dir.join("tiny_1.0_all.deb");
        Cmd::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&root)
            .arg(&deb)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output(&Shell::plain())
            .unwrap();
        deb
    }

    fn ar_listing(deb: &Path) -> Vec<(String, u64, u32, u32, u32)> {
        let mut a = crate::writer::open_deb(deb).unwrap();
        let mut v = vec![];
        while let Some(e) = a.next_entry() {
            let e = e.unwrap();
            let h = e.header();
            v.push((
                String::from_utf8_lossy(h.identifier()).into_owned(),
                h.mtime(),
                h.uid(),
                h.gid(),
                h.mode(),
            ));
        }
        v
    }

    #[test]
    fn sign_verify_resign_and_tamper() {
        let shell = Shell::plain();
        if !have("gpg") || !have("dpkg-deb") {
            eprintln!("skipping: gpg or dpkg-deb is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let deb = tiny_deb(dir.path());
        let (home, fpr) = throwaway_key(&shell);
        let gpg = Gpg::new(Some(home.path()));

        // Unsigned: verification says so.
        let e = verify_deb_with(&deb, &gpg, &shell).unwrap_err();
        assert!(format!("{e:#}").contains("is not signed"), "{e:#}");
        assert_eq!(forge_core::exit::code_of(&e), 4);

        sign_deb_with(&deb, Some(&fpr), &gpg, &shell).unwrap();
        let members = ar_listing(&deb);
        let names: Vec<&str> = members.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "debian-binary",
                "control.tar.xz",
                "data.tar.xz",
                "_gpgorigin"
            ]
        );
        let sig = &members[3];
        assert_eq!((sig.1, sig.2, sig.3, sig.4), (members[0].1, 0, 0, 0o100644));
        let sig_text = read_member(&deb, ORIGIN_MEMBER).unwrap();
        assert!(sig_text.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
        assert_eq!(verify_deb_with(&deb, &gpg, &shell).unwrap(), fpr);

        // dpkg still reads the signed package.
        let info = Cmd::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .read(&shell)
            .unwrap();
        assert!(info.contains("Package: tiny"), "{info}");

        // Signing again replaces the signature rather than adding one.
        sign_deb_with(&deb, Some(&fpr), &gpg, &shell).unwrap();
        let names: Vec<String> = ar_listing(&deb).into_iter().map(|m| m.0).collect();
        assert_eq!(names.iter().filter(|n| *n == ORIGIN_MEMBER).count(), 1);
        verify_deb_with(&deb, &gpg, &shell).unwrap();

        // Independent check: gpg over `ar p` output, the way debsig-verify does it.
        let sig_path = dir.path().join("sig.asc");
        std::fs::write(&sig_path, read_member(&deb, ORIGIN_MEMBER).unwrap()).unwrap();
        let ar_cmd = format!(
            "ar p {d} debian-binary control.tar.xz data.tar.xz | gpg --batch --homedir {h} --verify {s} -",
            d = deb.display(),
            h = home.path().display(),
            s = sig_path.display()
        );
        Cmd::new("sh").args(["-c", &ar_cmd]).output(&shell).unwrap();

        // Tampering with the payload breaks the signature.
        let tampered = dir.path().join("tampered.deb");
        {
            let mut out = File::create(&tampered).unwrap();
            let mut b = ar::Builder::new(&mut out);
            let mut a = crate::writer::open_deb(&deb).unwrap();
            while let Some(e) = a.next_entry() {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = vec![];
                e.read_to_end(&mut data).unwrap();
                if h.identifier() == b"debian-binary" {
                    data = b"2.1\n".to_vec();
                }
                b.append(&h, data.as_slice()).unwrap();
            }
        }
        let e = verify_deb_with(&tampered, &gpg, &shell).unwrap_err();
        assert_eq!(forge_core::exit::code_of(&e), 4, "{e:#}");
        stop_agent(home.path(), &shell);
    }

    #[test]
    fn missing_secret_key_is_named() {
        let shell = Shell::plain();
        if !have("gpg") || !have("dpkg-deb") {
            eprintln!("skipping: gpg or dpkg-deb is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let deb = tiny_deb(dir.path());
        let before = std::fs::read(&deb).unwrap();
        let home = tempfile::Builder::new()
            .prefix("fgpg")
            .tempdir_in("/tmp")
            .unwrap();
        let gpg = Gpg::new(Some(home.path()));
        let e = sign_deb_with(&deb, Some("NOSUCHKEY"), &gpg, &shell).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("no secret gpg key `NOSUCHKEY`"), "{msg}");
        assert_eq!(forge_core::exit::code_of(&e), 2);
        assert!(forge_core::exit::hints(&e)[0].contains("--quick-gen-key"));
        let e = sign_deb_with(&deb, None, &gpg, &shell).unwrap_err();
        assert!(format!("{e:#}").contains("has none"), "{e:#}");
        assert_eq!(
            std::fs::read(&deb).unwrap(),
            before,
            "a failed signing must not touch the package"
        );
        stop_agent(home.path(), &shell);
    }

    #[test]
    fn not_a_deb_is_rejected_by_name() {
        let shell = Shell::plain();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("notes.txt");
        std::fs::write(&f, "hello").unwrap();
        let e = sign_deb(&f, None, &shell).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("notes.txt")
                && msg.contains("is not a Debian package (.deb): it is not an ar archive"),
            "{msg}"
        );
        assert_eq!(forge_core::exit::code_of(&e), 2);
    }
}

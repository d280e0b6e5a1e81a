//! The cached clean root: the Debian mirror (environment, the host's apt sources, the default)
//! and the root built once by debootstrap (second stage through qemu for foreign
//! architectures), stamped complete and renamed into place.

use super::*;

/// The mirror for debootstrap: `FORGE_DEBIAN_MIRROR`, else the host's, else the default.
pub fn mirror() -> String {
    if let Ok(m) = std::env::var("FORGE_DEBIAN_MIRROR") {
        if !m.trim().is_empty() {
            return m.trim().trim_end_matches('/').to_string();
        }
    }
    host_mirror().unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

/// The Debian mirror named by this host's apt sources, when the host runs Debian.
pub(super) fn host_mirror() -> Option<String> {
    let os = fs::read_to_string("/etc/os-release").ok()?;
    if !os.lines().any(|l| l.trim() == "ID=debian") {
        return None;
    }
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push((false, t));
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let deb822 = p.extension().is_some_and(|e| e == "sources");
            let list = p.extension().is_some_and(|e| e == "list");
            if deb822 || list {
                if let Ok(t) = fs::read_to_string(&p) {
                    texts.push((deb822, t));
                }
            }
        }
    }
    texts.iter().find_map(|(deb822, t)| {
        if *deb822 {
            mirror_from_deb822(t)
        } else {
            mirror_from_list(t)
        }
    })
}

/// A Debian main-archive URI is an http(s) URI of a `deb` source whose suite is a plain release
/// (no `-updates`/`-security`) and which is not the security archive.
pub(super) fn usable_mirror(uri: &str, suites: &[&str]) -> Option<String> {
    let ok = (uri.starts_with("http://") || uri.starts_with("https://"))
        && !uri.contains("security")
        && suites.iter().any(|s| !s.contains('-') && !s.contains('/'));
    ok.then(|| uri.trim_end_matches('/').to_string())
}

pub(super) fn mirror_from_list(text: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        if let Some(m) = usable_mirror(uri, &[suite]) {
            return Some(m);
        }
    }
    None
}

pub(super) fn mirror_from_deb822(text: &str) -> Option<String> {
    let paragraphs = crate::repo::parse_paragraphs(text, "apt sources").ok()?;
    for p in paragraphs {
        if p.get("Enabled")
            .is_some_and(|e| e.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        if !p
            .get("Types")
            .is_some_and(|t| t.split_whitespace().any(|t| t == "deb"))
        {
            continue;
        }
        let suites: Vec<&str> = p
            .get("Suites")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        for uri in p.get("URIs").unwrap_or_default().split_whitespace() {
            if let Some(m) = usable_mirror(uri, &suites) {
                return Some(m);
            }
        }
    }
    None
}

/// The cached clean root for the test's architecture, built when missing.
pub(super) fn ensure_root(
    t: &InstallTest,
    binfmt: Option<&Binfmt>,
    shell: &Shell,
) -> Result<PathBuf> {
    let name = format!("{SUITE}-{}-minbase", t.arch);
    let final_dir = t.cache_dir.join(&name);
    if final_dir.join(STAMP).is_file() {
        shell.verbose_status("Fresh", format!("clean root `{}`", final_dir.display()));
        return Ok(final_dir);
    }
    if final_dir.exists() {
        shell.warn(format!(
            "`{}` is an incomplete root (no `{STAMP}`); building it again",
            final_dir.display()
        ));
        let stale = Scratch::adopt(
            t.cache_dir
                .join(format!(".{name}.stale-{}", std::process::id())),
            shell,
        );
        fs::rename(&final_dir, &stale.path)
            .with_context(|| format!("failed to move `{}` aside", final_dir.display()))?;
        drop(stale);
    }
    let debootstrap = which::which("debootstrap")
        .or_else(|_| which::which("/usr/sbin/debootstrap"))
        .map(|p| p.into_os_string())
        .unwrap_or_else(|_| "debootstrap".into());
    let mirror = mirror();
    let foreign = binfmt.is_some();
    let build = Scratch::create_in(&t.cache_dir, &format!(".{name}."), shell)?;
    let dir = build.path.join("root");
    shell.status(
        "Creating",
        format!(
            "clean Debian {SUITE} {} root (debootstrap minbase from {mirror}; a few minutes, once)",
            t.arch
        ),
    );
    let spinner = shell.spinner("Bootstrapping", format!("{SUITE} {}", t.arch));
    let mut cmd = Cmd::new(&debootstrap)
        .install_hint("install debootstrap with `apt-get install debootstrap`")
        .arg("--variant=minbase")
        .arg(format!("--arch={}", t.arch));
    if foreign {
        cmd = cmd.arg("--foreign");
    }
    let cmd = cmd.arg(SUITE).arg(&dir).arg(&mirror).env("LC_ALL", "C");
    let out = cmd.output_unchecked(shell)?;
    if !out.status.success() {
        spinner.finish_and_clear();
        return Err(debootstrap_failure(&cmd, &out, &dir));
    }
    if let Some(b) = binfmt {
        provide_interpreter(&dir, b, &qemu_name(t))?;
        let second = chroot(&dir).args(["/debootstrap/debootstrap", "--second-stage"]);
        let out = second.output_unchecked(shell)?;
        if !out.status.success() {
            spinner.finish_and_clear();
            return Err(debootstrap_failure(&second, &out, &dir));
        }
    }
    spinner.finish_and_clear();
    if unmount_under(&build.path, shell) > 0 {
        bail!(
            "debootstrap left file systems mounted under `{}`",
            build.path.display()
        );
    }
    let stamp = format!(
        "suite={SUITE}\narch={}\nvariant=minbase\nmirror={mirror}\nforeign={foreign}\n",
        t.arch
    );
    forge_core::fsx::write_atomic(&dir.join(STAMP), stamp.as_bytes())?;
    match fs::rename(&dir, &final_dir) {
        Ok(()) => {}
        // Another run finished the same root first: use theirs.
        Err(_) if final_dir.join(STAMP).is_file() => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!("failed to move the new root to `{}`", final_dir.display())
            })
        }
    }
    drop(build);
    Ok(final_dir)
}

pub(super) fn debootstrap_failure(
    cmd: &Cmd,
    out: &std::process::Output,
    dir: &Path,
) -> anyhow::Error {
    let log = fs::read_to_string(dir.join("debootstrap/debootstrap.log")).unwrap_or_default();
    let text = format!(
        "{}\n{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let network = [
        "Failed getting release file",
        "Couldn't download",
        "Failed getting",
        "Temporary failure resolving",
        "Could not resolve",
    ]
    .iter()
    .any(|m| text.contains(m));
    let keyring = text.contains("Release signed by unknown key") || text.contains("keyring");
    let mut e = check_failure(format!("`{}` failed", cmd.display()), out);
    if !log.trim().is_empty() {
        let lines: Vec<&str> = log.lines().collect();
        e = e.context(format!(
            "debootstrap log:\n{}",
            lines[lines.len().saturating_sub(15)..].join("\n")
        ));
    }
    if network {
        forge_core::exit::with_hint(
            forge_core::exit::with_kind(e, ErrorKind::Network),
            "check the network, or point FORGE_DEBIAN_MIRROR at a reachable Debian mirror".into(),
        )
    } else if keyring {
        forge_core::exit::with_hint(
            e,
            "install Debian's archive keys with `apt-get install debian-archive-keyring`".into(),
        )
    } else {
        e
    }
}

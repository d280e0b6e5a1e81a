//! Step 4 of an install test: the systemd units the package installs and the enablement
//! symlinks its maintainer scripts made (reported after install, and none may remain after
//! purge).

use super::*;

pub(super) fn unit_of(file: &str) -> Option<(bool, &str)> {
    for (dir, user) in [
        ("/usr/lib/systemd/system/", false),
        ("/lib/systemd/system/", false),
        ("/usr/lib/systemd/user/", true),
    ] {
        if let Some(name) = file.strip_prefix(dir) {
            if !name.contains('/') {
                return Some((user, name));
            }
        }
    }
    None
}

/// One enablement symlink of a unit of the package.
pub(super) struct Enablement {
    /// The link, relative to the root (`etc/systemd/system/timers.target.wants/x.timer`).
    pub(super) link: String,
    pub(super) user: bool,
    pub(super) unit: String,
}

impl Enablement {
    /// `x.timer (timers.target.wants)`, `agent.service (user, default.target.wants)`.
    pub(super) fn describe(&self) -> String {
        let place = Path::new(&self.link)
            .parent()
            .and_then(|p| p.file_name())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if self.user {
            format!("{} (user, {place})", self.unit)
        } else {
            format!("{} ({place})", self.unit)
        }
    }
}

/// The symlinks under `/etc/systemd/{system,user}` (directly or in a `*.wants`/`*.requires`
/// directory) that point at one of the package's units: what `deb-systemd-helper enable`
/// (`--user` for user units) creates, and `purge` must remove. Read directly rather than through
/// `systemctl is-enabled`, which needs a running systemd the clean root does not have.
pub(super) fn enablement_links(root: &Path, files: &[String]) -> Vec<Enablement> {
    let units: Vec<(bool, &str)> = files.iter().filter_map(|f| unit_of(f)).collect();
    let mut out = Vec::new();
    if units.is_empty() {
        return out;
    }
    for (sub, user) in [("etc/systemd/system", false), ("etc/systemd/user", true)] {
        let mut dirs = vec![root.join(sub)];
        if let Ok(entries) = fs::read_dir(root.join(sub)) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                }
            }
        }
        for dir in dirs {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(target) = fs::read_link(e.path()) else {
                    continue;
                };
                let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if !units.iter().any(|(u, n)| *u == user && *n == name) {
                    continue;
                }
                let link = e
                    .path()
                    .strip_prefix(root)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push(Enablement {
                    link,
                    user,
                    unit: name.to_string(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.link.cmp(&b.link));
    out
}

/// Reports the systemd units the maintainer scripts enabled (symlinks under /etc/systemd).
pub(super) fn report_units(root: &Path, files: &[String], shell: &Shell) {
    let enabled = enablement_links(root, files);
    if enabled.is_empty() {
        if files.iter().any(|f| unit_of(f).is_some()) {
            shell.status(
                "Enabled",
                "none of its systemd units (no enablement symlinks)",
            );
        }
    } else {
        let shown: Vec<String> = enabled.iter().map(|l| l.describe()).collect();
        shell.status("Enabled", shown.join(", "));
    }
}

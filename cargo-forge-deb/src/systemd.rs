//! systemd units and maintainer scripts, as cargo-deb (after debhelper) handles them.
//!
//! Units (`.service`, `.socket`, `.timer`, …) are found in the unit directory by debhelper's
//! lookup order (`<pkg>.<unit>.<type>`, `<unit>.<type>`, `<pkg>.<type>`, `<type>`) and installed
//! into `usr/lib/systemd/system/`. When `maintainer-scripts` is set, postinst/prerm/postrm
//! snippets that enable, start, stop and clean up the units are generated (equivalent to
//! debhelper's `dh_installsystemd` autoscripts) and put in place of `#DEBHELPER#` in the user's
//! scripts, or form the script when there is none.
//!
//! Beyond cargo-deb (its issues #17 and #153):
//! * `user = true` tables hold systemd *user* units (`<pkg>.user.<type>`…), installed into
//!   `usr/lib/systemd/user/` and handled as debhelper 13's `dh_installsystemduser` does: enabled
//!   for every user with `deb-systemd-helper --user` (systemd's `--global`), cleaned up on purge,
//!   never started or stopped (no user session belongs to dpkg).
//! * `units = [...]` limits a table's script code to the units it names (debhelper's
//!   `dh_installsystemd UNIT…`), so a timer is enabled and started while the service it
//!   triggers is installed but neither enabled nor started.
//!
//! The snippets are written out here rather than read from debhelper's autoscripts because
//! debhelper is not a dependency of a cargo build (and must not be); their text follows
//! debhelper's so that tools and people who know those scripts recognise them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;

use forge_core::exit::{usage, ResultExt};

use crate::assets::{Asset, Content, Origin};
use crate::manifest::SystemdUnitsConfig;

const UNIT_TYPES: &[&str] = &[
    "mount", "path", "service", "socket", "target", "timer", "tmpfile",
];
/// The types `dh_installsystemduser` installs.
const USER_UNIT_TYPES: &[&str] = &["service", "target", "socket", "path", "timer"];
const UNIT_DIR: &str = "usr/lib/systemd/system";
const USER_UNIT_DIR: &str = "usr/lib/systemd/user";

/// Where the units of a table go.
fn unit_dir(cfg: &SystemdUnitsConfig) -> &'static str {
    if cfg.user.unwrap_or(false) {
        USER_UNIT_DIR
    } else {
        UNIT_DIR
    }
}

/// debhelper's `pkgfile` lookup.
fn pkgfile(dir: &Path, pkg: &str, unit: Option<&str>, kind: &str) -> Option<PathBuf> {
    let mut names = Vec::new();
    if let Some(u) = unit {
        names.push(format!("{pkg}.{u}.{kind}"));
        if !u.ends_with('@') {
            names.push(format!("{u}.{kind}"));
        }
    }
    names.push(format!("{pkg}.{kind}"));
    if !kind.contains('@') {
        names.push(kind.to_string());
    }
    names.into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Finds the unit files for one `systemd-units` table.
pub fn find_units(dir: &Path, pkg: &str, cfg: &SystemdUnitsConfig) -> Vec<Asset> {
    let unit = cfg.unit_name.as_deref();
    let user = cfg.user.unwrap_or(false);
    let types = if user { USER_UNIT_TYPES } else { UNIT_TYPES };
    let mut out = Vec::new();
    for kind in types {
        for template in [false, true] {
            if template && *kind == "mount" {
                continue;
            }
            let (lookup_pkg, lookup_unit) = if template {
                (format!("{pkg}@"), unit.map(|u| format!("{u}@")))
            } else {
                (pkg.to_string(), unit.map(str::to_string))
            };
            let lookup_kind = if user {
                format!("user.{kind}")
            } else {
                kind.to_string()
            };
            let Some(path) = pkgfile(dir, &lookup_pkg, lookup_unit.as_deref(), &lookup_kind) else {
                continue;
            };
            let base = unit.unwrap_or(pkg);
            let at = if template { "@" } else { "" };
            let dest = if *kind == "tmpfile" {
                format!("usr/lib/tmpfiles.d/{base}.conf")
            } else {
                format!("{}/{base}{at}.{kind}", unit_dir(cfg))
            };
            out.push(Asset {
                dest,
                mode: 0o644,
                content: Content::File(path),
                built: false,
                origin: Origin::Systemd,
            });
        }
    }
    out
}

/// Whether `dir` holds any systemd unit file (for the "units are elsewhere" hint).
pub fn has_unit_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            UNIT_TYPES
                .iter()
                .any(|t| *t != "tmpfile" && (name.ends_with(&format!(".{t}")) || name == *t))
        })
    })
}

/// Generated maintainer script fragments.
#[derive(Default, Debug)]
pub struct Fragments {
    pub postinst: String,
    pub prerm: String,
    pub postrm: String,
}

const CONFIGURE: &str = r#"if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then"#;

fn block(text: &str) -> String {
    format!("# Automatically added by cargo-forge\n{text}# End automatically added section\n")
}

/// Script fragments for the units among `assets` that `cfg` governs: those directly in its
/// unit directory (system or user), limited to `units` or to `unit-name` when set, plus the
/// units they name with `Also=`.
pub fn fragments(assets: &[Asset], cfg: &SystemdUnitsConfig) -> Result<Fragments> {
    let (start, enable) = governed_units(assets, cfg)?;
    if cfg.user.unwrap_or(false) {
        return Ok(user_fragments(&enable, cfg.enable.unwrap_or(true)));
    }
    let f = Fragments::default();
    if start.is_empty() {
        return Ok(f);
    }
    system_fragments(f, &start, &enable, cfg)
}

/// The units among `assets` that `cfg` governs (see [`fragments`]), by file name: those the
/// scripts start and stop, and those of them with an `[Install]` section, which they enable.
/// forge-rpm writes its scriptlets for the same units.
pub fn governed_units(
    assets: &[Asset],
    cfg: &SystemdUnitsConfig,
) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let dir = unit_dir(cfg);
    let mut queue: Vec<String> = match &cfg.units {
        Some(names) => {
            let mut q = Vec::new();
            for name in names {
                let dest = format!("{dir}/{name}");
                if !assets.iter().any(|a| a.dest == dest) {
                    let have: Vec<&str> = assets
                        .iter()
                        .filter(|a| Path::new(&a.dest).parent() == Some(Path::new(dir)))
                        .filter_map(|a| Path::new(&a.dest).file_name()?.to_str())
                        .collect();
                    return Err(usage(format!(
                        "`units` of `systemd-units` names `{name}`, which the package does not install in `/{dir}` (it has: {})",
                        if have.is_empty() { "none".to_string() } else { have.join(", ") }
                    )))
                    .hint("name unit files by their installed name, e.g. `units = [\"backup.timer\"]` (set `user = true` in the table for user units)");
                }
                if !name.contains('@') {
                    q.push(dest);
                }
            }
            q
        }
        None => assets
            .iter()
            .filter(|a| Path::new(&a.dest).parent() == Some(Path::new(dir)))
            .filter(|a| !a.dest.contains('@'))
            .filter(|a| match &cfg.unit_name {
                Some(u) => Path::new(&a.dest)
                    .file_stem()
                    .is_some_and(|s| s == u.as_str()),
                None => true,
            })
            .map(|a| a.dest.clone())
            .collect(),
    };
    let mut start = BTreeSet::new();
    let mut enable = BTreeSet::new();
    while let Some(dest) = queue.pop() {
        let name = Path::new(&dest)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !start.insert(name.clone()) {
            continue;
        }
        let Some(asset) = assets.iter().find(|a| a.dest == dest) else {
            return Err(usage(format!(
                "systemd unit `{name}` is named by `Also=` but is not in the package: add it to the unit directory or the assets"
            )));
        };
        let text = match &asset.content {
            Content::File(p) => forge_core::fsx::read_to_string(p)?,
            Content::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Content::Symlink(_) => continue,
        };
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        {
            if line.eq_ignore_ascii_case("[Install]") {
                enable.insert(name.clone());
            }
            if let Some(also) = line.strip_prefix("Also=") {
                for a in also.split_whitespace() {
                    queue.push(format!("{dir}/{}", a.trim_matches(['"', '\''])));
                }
            }
        }
    }
    Ok((start, enable))
}

/// [`fragments`] of system units.
fn system_fragments(
    mut f: Fragments,
    start: &BTreeSet<String>,
    enable: &BTreeSet<String>,
    cfg: &SystemdUnitsConfig,
) -> Result<Fragments> {
    let do_enable = cfg.enable.unwrap_or(true);
    let do_start = cfg.start.unwrap_or(true);
    let restart = cfg.restart_after_upgrade.unwrap_or(true);
    let stop_on_upgrade = cfg.stop_on_upgrade.unwrap_or(true);
    let units: Vec<String> = start.iter().cloned().collect();
    let unit_list = units
        .iter()
        .map(|u| format!("'{u}'"))
        .collect::<Vec<_>>()
        .join(" ");
    for u in enable {
        let text = if do_enable {
            format!(
                "{CONFIGURE}\n\t# This will only remove masks created by d-s-h on package removal.\n\tdeb-systemd-helper unmask '{u}' >/dev/null || true\n\n\t# was-enabled defaults to true, so new installations run enable.\n\tif deb-systemd-helper --quiet was-enabled '{u}'; then\n\t\t# Enables the unit on first installation, creates new\n\t\t# symlinks on upgrades if the unit file has changed.\n\t\tdeb-systemd-helper enable '{u}' >/dev/null || true\n\telse\n\t\t# Update the statefile to add new symlinks (if any), which need to be\n\t\t# cleaned up on purge. Also remove old symlinks.\n\t\tdeb-systemd-helper update-state '{u}' >/dev/null || true\n\tfi\nfi\n"
            )
        } else {
            format!(
                "{CONFIGURE}\n\tif deb-systemd-helper debian-installed '{u}'; then\n\t\t# This will only remove masks created by d-s-h on package removal.\n\t\tdeb-systemd-helper unmask '{u}' >/dev/null || true\n\n\t\tif deb-systemd-helper --quiet was-enabled '{u}'; then\n\t\t\t# Create new symlinks, if any.\n\t\t\tdeb-systemd-helper enable '{u}' >/dev/null || true\n\t\tfi\n\tfi\n\n\t# Update the statefile to add new symlinks (if any), which need to be\n\t# cleaned up on purge. Also remove old symlinks.\n\tdeb-systemd-helper update-state '{u}' >/dev/null || true\nfi\n"
            )
        };
        f.postinst.push_str(&block(&text));
    }
    if !enable.is_empty() {
        let list = enable
            .iter()
            .map(|u| format!("'{u}'"))
            .collect::<Vec<_>>()
            .join(" ");
        f.postrm.push_str(&block(&format!(
            "if [ \"$1\" = \"remove\" ]; then\n\tif [ -x \"/usr/bin/deb-systemd-helper\" ]; then\n\t\tdeb-systemd-helper mask {list} >/dev/null || true\n\tfi\nfi\n\nif [ \"$1\" = \"purge\" ]; then\n\tif [ -x \"/usr/bin/deb-systemd-helper\" ]; then\n\t\tdeb-systemd-helper purge {list} >/dev/null || true\n\t\tdeb-systemd-helper unmask {list} >/dev/null || true\n\tfi\nfi\n"
        )));
    }
    let postinst_start = if restart {
        Some(format!("{CONFIGURE}\n\tif [ -d /run/systemd/system ]; then\n\t\tsystemctl --system daemon-reload >/dev/null || true\n\t\tif [ -n \"$2\" ]; then\n\t\t\t_dh_action=restart\n\t\telse\n\t\t\t_dh_action=start\n\t\tfi\n\t\tdeb-systemd-invoke $_dh_action {unit_list} >/dev/null || true\n\tfi\nfi\n"))
    } else if do_start {
        Some(format!("{CONFIGURE}\n\tif [ -d /run/systemd/system ]; then\n\t\tsystemctl --system daemon-reload >/dev/null || true\n\t\tdeb-systemd-invoke start {unit_list} >/dev/null || true\n\tfi\nfi\n"))
    } else {
        None
    };
    let postinst_start = match (do_start, restart) {
        (false, true) => Some(format!("{CONFIGURE}\n\tif [ -d /run/systemd/system ]; then\n\t\tsystemctl --system daemon-reload >/dev/null || true\n\t\tif [ -n \"$2\" ]; then\n\t\t\tdeb-systemd-invoke try-restart {unit_list} >/dev/null || true\n\t\tfi\n\tfi\nfi\n")),
        _ => postinst_start,
    };
    if let Some(s) = postinst_start {
        f.postinst.push_str(&block(&s));
    }
    if !stop_on_upgrade || restart {
        f.prerm = block(&format!("if [ -d /run/systemd/system ] && [ \"$1\" = remove ]; then\n\tdeb-systemd-invoke stop {unit_list} >/dev/null || true\nfi\n"));
    } else if do_start {
        f.prerm = block(&format!("if [ -d /run/systemd/system ]; then\n\tdeb-systemd-invoke stop {unit_list} >/dev/null || true\nfi\n"));
    }
    f.postrm = block("if [ -d /run/systemd/system ] && [ \"$1\" = remove ]; then\n\tsystemctl --system daemon-reload >/dev/null || true\nfi\n") + &f.postrm;
    Ok(f)
}

/// dh_installsystemduser's snippets (compat 13: enable and purge; no start, stop or restart,
/// which would act on the sessions of logged-in users). `DPKG_ROOT` set means dpkg installs into
/// another root, where no user's state may be changed, as in debhelper 13.11.
fn user_fragments(enable: &BTreeSet<String>, do_enable: bool) -> Fragments {
    let mut f = Fragments::default();
    if enable.is_empty() {
        return f;
    }
    for u in enable {
        let text = if do_enable {
            format!(
                "{CONFIGURE}\n\tif [ -z \"${{DPKG_ROOT:-}}\" ] ; then\n\t\t# This will only remove masks created by d-s-h on package removal.\n\t\tdeb-systemd-helper --user unmask '{u}' >/dev/null || true\n\n\t\t# was-enabled defaults to true, so new installations run enable.\n\t\tif deb-systemd-helper --quiet --user was-enabled '{u}' ; then\n\t\t\t# Enables the unit on first installation, creates new\n\t\t\t# symlinks on upgrades if the unit file has changed.\n\t\t\tdeb-systemd-helper --user enable '{u}' >/dev/null || true\n\t\telse\n\t\t\t# Update the statefile to add new symlinks (if any), which need to be\n\t\t\t# cleaned up on purge. Also remove old symlinks.\n\t\t\tdeb-systemd-helper --user update-state '{u}' >/dev/null || true\n\t\tfi\n\tfi\nfi\n"
            )
        } else {
            format!(
                "{CONFIGURE}\n\tif [ -z \"${{DPKG_ROOT:-}}\" ]; then\n\t\tif deb-systemd-helper --user debian-installed '{u}' ; then\n\t\t\t# This will only remove masks created by d-s-h on package removal.\n\t\t\tdeb-systemd-helper --user unmask '{u}' >/dev/null || true\n\n\t\t\tif deb-systemd-helper --quiet --user was-enabled '{u}' ; then\n\t\t\t\t# Create new symlinks, if any.\n\t\t\t\tdeb-systemd-helper --user enable '{u}' >/dev/null || true\n\t\t\tfi\n\t\tfi\n\n\t\t# Update the statefile to add new symlinks (if any), which need to be cleaned\n\t\t# up on purge. Also remove old symlinks.\n\t\tdeb-systemd-helper --user update-state '{u}' >/dev/null || true\n\tfi\nfi\n"
            )
        };
        f.postinst.push_str(&block(&text));
    }
    let list = enable
        .iter()
        .map(|u| format!("'{u}'"))
        .collect::<Vec<_>>()
        .join(" ");
    f.postrm = block(&format!(
        "if [ \"$1\" = \"purge\" ]; then\n\tif [ -z \"${{DPKG_ROOT:-}}\" ] && [ -x \"/usr/bin/deb-systemd-helper\" ] ; then\n\t\tdeb-systemd-helper --user purge {list} >/dev/null || true\n\tfi\nfi\n"
    ));
    f
}

/// The maintainer scripts of the package: `(name, mode, content)`.
///
/// With units, each script is the user's (found by the pkgfile rules) with `#DEBHELPER#`
/// replaced, or `#!/bin/sh\nset -e\n` plus the fragments. Without units, only the plain
/// `config`, `preinst`, `postinst`, `prerm`, `postrm`, `templates` files are copied.
pub fn scripts(
    dir: Option<&Path>,
    pkg: &str,
    unit: Option<&str>,
    frags: Option<&Fragments>,
) -> Result<Vec<(String, u32, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in [
        "config",
        "preinst",
        "postinst",
        "prerm",
        "postrm",
        "templates",
    ] {
        let mode = if name == "templates" { 0o644 } else { 0o755 };
        let user = match (dir, frags) {
            (Some(d), Some(_)) => pkgfile(d, pkg, unit, name),
            (Some(d), None) => Some(d.join(name)).filter(|p| p.is_file()),
            (None, _) => None,
        };
        let generated = frags.map(|f| match name {
            "postinst" => f.postinst.as_str(),
            "prerm" => f.prerm.as_str(),
            "postrm" => f.postrm.as_str(),
            _ => "",
        });
        match (user, generated) {
            (Some(path), Some(gen)) => {
                let text = forge_core::fsx::read_to_string(&path)?;
                if !text.contains("#DEBHELPER#") && name != "config" && name != "templates" {
                    return Err(usage(format!(
                        "maintainer script `{}` has no `#DEBHELPER#` line, where the generated systemd code must go",
                        path.display()
                    )))
                    .hint("add a line `#DEBHELPER#` where the unit should be enabled and started (usually near the end, before `exit 0`)");
                }
                out.push((
                    name.to_string(),
                    mode,
                    text.replace("#DEBHELPER#", gen.trim_end()).into_bytes(),
                ));
            }
            (Some(path), None) => out.push((name.to_string(), mode, forge_core::fsx::read(&path)?)),
            (None, Some(gen)) if !gen.is_empty() => {
                out.push((
                    name.to_string(),
                    mode,
                    format!("#!/bin/sh\nset -e\n{gen}").into_bytes(),
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_fragments() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.service"), "[Unit]\nDescription=x\n[Service]\nExecStart=/usr/bin/app\n[Install]\nWantedBy=multi-user.target\n").unwrap();
        std::fs::write(
            dir.path().join("postinst"),
            "#!/bin/sh\nset -e\necho hi\n#DEBHELPER#\n",
        )
        .unwrap();
        let cfg = SystemdUnitsConfig {
            unit_name: Some("app".into()),
            enable: Some(false),
            ..Default::default()
        };
        let units = find_units(dir.path(), "pkg", &cfg);
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].dest, "usr/lib/systemd/system/app.service");
        let f = fragments(&units, &cfg).unwrap();
        assert!(
            f.postinst.contains("debian-installed 'app.service'"),
            "{}",
            f.postinst
        );
        assert!(f.postinst.contains("_dh_action=restart"));
        assert!(f.prerm.contains("deb-systemd-invoke stop 'app.service'"));
        assert!(f.postrm.contains("deb-systemd-helper purge 'app.service'"));
        let s = scripts(Some(dir.path()), "pkg", Some("app"), Some(&f)).unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["postinst", "prerm", "postrm"]);
        let postinst = String::from_utf8(s[0].2.clone()).unwrap();
        assert!(
            postinst.starts_with("#!/bin/sh\nset -e\necho hi\n# Automatically added"),
            "{postinst}"
        );
        assert!(!postinst.contains("#DEBHELPER#"));
    }

    /// cargo-deb #153: `units = ["backup.timer"]` installs the pair but enables and starts only
    /// the timer; the service it triggers gets no script code at all.
    #[test]
    fn timer_and_service_pair_enables_and_starts_only_the_timer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("backup.service"),
            "[Unit]\nDescription=b\n[Service]\nType=oneshot\nExecStart=/usr/bin/backup\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("backup.timer"),
            "[Unit]\nDescription=t\n[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n",
        )
        .unwrap();
        let cfg = SystemdUnitsConfig {
            unit_name: Some("backup".into()),
            units: Some(vec!["backup.timer".into()]),
            ..Default::default()
        };
        let units = find_units(dir.path(), "pkg", &cfg);
        let dests: Vec<&str> = units.iter().map(|a| a.dest.as_str()).collect();
        assert_eq!(
            dests,
            [
                "usr/lib/systemd/system/backup.service",
                "usr/lib/systemd/system/backup.timer"
            ]
        );
        let f = fragments(&units, &cfg).unwrap();
        for script in [&f.postinst, &f.prerm, &f.postrm] {
            assert!(!script.contains("backup.service"), "{script}");
        }
        assert!(
            f.postinst
                .contains("deb-systemd-helper enable 'backup.timer'"),
            "{}",
            f.postinst
        );
        assert!(
            f.postinst
                .contains("deb-systemd-invoke $_dh_action 'backup.timer'"),
            "{}",
            f.postinst
        );
        assert!(
            f.prerm.contains("deb-systemd-invoke stop 'backup.timer'"),
            "{}",
            f.prerm
        );
        assert!(
            f.postrm.contains("deb-systemd-helper purge 'backup.timer'"),
            "{}",
            f.postrm
        );
        // Without `units`, both are started (debhelper's default), only the timer enabled.
        let all = SystemdUnitsConfig {
            unit_name: Some("backup".into()),
            ..Default::default()
        };
        let f = fragments(&units, &all).unwrap();
        assert!(
            f.postinst.contains("'backup.service' 'backup.timer'"),
            "{}",
            f.postinst
        );
        // A name the package does not install is an error naming what it has.
        let bad = SystemdUnitsConfig {
            units: Some(vec!["backup.path".into()]),
            ..all
        };
        let e = fragments(&units, &bad).unwrap_err().to_string();
        assert!(
            e.contains("`backup.path`") && e.contains("backup.timer"),
            "{e}"
        );
    }

    /// cargo-deb #17: user units go to `usr/lib/systemd/user/`, are enabled for every user with
    /// `deb-systemd-helper --user` and purged, never started or stopped (dh_installsystemduser).
    #[test]
    fn user_units_are_enabled_globally_never_started() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pkg.user.service"),
            "[Service]\nExecStart=/usr/bin/agent\n[Install]\nWantedBy=default.target\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pkg.service"),
            "[Service]\nExecStart=/usr/bin/d\n",
        )
        .unwrap();
        let cfg = SystemdUnitsConfig {
            user: Some(true),
            ..Default::default()
        };
        let units = find_units(dir.path(), "pkg", &cfg);
        let dests: Vec<&str> = units.iter().map(|a| a.dest.as_str()).collect();
        assert_eq!(dests, ["usr/lib/systemd/user/pkg.service"]);
        let f = fragments(&units, &cfg).unwrap();
        assert!(
            f.postinst
                .contains("deb-systemd-helper --user enable 'pkg.service'"),
            "{}",
            f.postinst
        );
        assert!(f.postinst.contains("${DPKG_ROOT:-}"), "{}", f.postinst);
        assert!(f.prerm.is_empty(), "{}", f.prerm);
        assert!(!f.postinst.contains("deb-systemd-invoke"), "{}", f.postinst);
        assert!(!f.postinst.contains("systemctl"), "{}", f.postinst);
        assert!(
            f.postrm
                .contains("deb-systemd-helper --user purge 'pkg.service'"),
            "{}",
            f.postrm
        );
        // enable = false: only re-enabled when it was enabled before (debian-installed).
        let off = SystemdUnitsConfig {
            enable: Some(false),
            ..cfg
        };
        let f = fragments(&units, &off).unwrap();
        assert!(
            f.postinst
                .contains("deb-systemd-helper --user debian-installed 'pkg.service'"),
            "{}",
            f.postinst
        );
        // The scripts are valid shell.
        let s = scripts(None, "pkg", None, Some(&f)).unwrap();
        for (name, _, body) in s {
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(String::from_utf8(body).unwrap())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn script_without_token_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("postinst"), "#!/bin/sh\n").unwrap();
        let f = Fragments {
            postinst: "x\n".into(),
            ..Default::default()
        };
        assert!(scripts(Some(dir.path()), "pkg", None, Some(&f))
            .unwrap_err()
            .to_string()
            .contains("#DEBHELPER#"));
    }
}

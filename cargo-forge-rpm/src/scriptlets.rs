//! The scriptlets of a package derived from `[package.metadata.deb]`: systemd units handled as
//! the `%systemd_post`, `%systemd_preun` and `%systemd_postun_with_restart` macros of
//! systemd-rpm-macros do, written out (a package made without rpmbuild has no macros), and the
//! deb maintainer scripts mapped to their RPM counterparts.
//!
//! Which units a table governs (its `units`, `unit-name`, `Also=`) is decided by forge-deb's
//! [`cargo_forge_deb::systemd::governed_units`], so both packages act on the same units. The
//! deb keys keep their meaning: `enable` (preset on first installation), `start` (start on first
//! installation), `restart-after-upgrade` (try-restart after an upgrade; else, with
//! `stop-on-upgrade`, stop before it and start after it).
//!
//! Maintainer scripts: `preinst` → `%pre`, `postinst` → `%post`, `prerm` → `%preun`, `postrm`
//! → `%postun`, with `#DEBHELPER#` replaced by the systemd code (else the code follows the
//! script). RPM calls them with a count, not a word: `$1` is 1 on installation and 2 on upgrade
//! in `%pre`/`%post`, 0 on removal and 1 on upgrade in `%preun`/`%postun` (docs/src/rpm.md says
//! so); a script written for dpkg's `configure`/`remove` words must test both.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;

use cargo_forge_deb::assets::Asset;
use cargo_forge_deb::manifest::SystemdUnitsConfig;

use crate::writer::{Scriptlet, Scripts};

/// The code for units, by scriptlet.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UnitCode {
    pub post: String,
    pub preun: String,
    pub postun: String,
}

fn quoted(units: &BTreeSet<String>) -> String {
    units
        .iter()
        .map(|u| format!("'{u}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn block(text: &str) -> String {
    format!("# Automatically added by cargo-forge (systemd units)\n{text}# End automatically added section\n")
}

/// The scriptlet code for the units among `assets` that `tables` govern.
pub fn unit_code(assets: &[Asset], tables: &[SystemdUnitsConfig]) -> Result<UnitCode> {
    let mut code = UnitCode::default();
    for cfg in tables {
        let (start, enable) = cargo_forge_deb::systemd::governed_units(assets, cfg)?;
        if start.is_empty() {
            continue;
        }
        if cfg.user.unwrap_or(false) {
            user_code(&mut code, &enable, cfg);
        } else {
            system_code(&mut code, &start, &enable, cfg);
        }
    }
    Ok(code)
}

const SYSTEMCTL: &str = "/usr/bin/systemctl";

fn system_code(
    code: &mut UnitCode,
    start: &BTreeSet<String>,
    enable: &BTreeSet<String>,
    cfg: &SystemdUnitsConfig,
) {
    let all = quoted(start);
    let do_enable = cfg.enable.unwrap_or(true);
    let do_start = cfg.start.unwrap_or(true);
    let restart = cfg.restart_after_upgrade.unwrap_or(true);
    let stop_on_upgrade = cfg.stop_on_upgrade.unwrap_or(true);
    // %systemd_post: on first installation, enable as the presets say.
    let mut post = String::new();
    if do_enable && !enable.is_empty() {
        post.push_str(&format!(
            "if [ $1 -eq 1 ] && [ -x {SYSTEMCTL} ]; then\n\t# Initial installation\n\t{SYSTEMCTL} --no-reload preset {} >/dev/null 2>&1 || :\nfi\n",
            quoted(enable)
        ));
    }
    if do_start {
        let when = if restart || !stop_on_upgrade {
            "[ $1 -eq 1 ]"
        } else {
            // Stopped before the upgrade (%preun): started again after it.
            "[ $1 -ge 1 ]"
        };
        post.push_str(&format!(
            "if {when} && [ -d /run/systemd/system ]; then\n\t{SYSTEMCTL} daemon-reload >/dev/null 2>&1 || :\n\t{SYSTEMCTL} start {all} >/dev/null 2>&1 || :\nfi\n"
        ));
    }
    if !post.is_empty() {
        code.post.push_str(&block(&post));
    }
    // %systemd_preun: on removal (not upgrade), disable and stop.
    let mut preun = format!(
        "if [ $1 -eq 0 ] && [ -x {SYSTEMCTL} ]; then\n\t# Package removal, not upgrade\n\t{SYSTEMCTL} --no-reload disable --now {all} >/dev/null 2>&1 || :\nfi\n"
    );
    if !restart && stop_on_upgrade {
        preun.push_str(&format!(
            "if [ $1 -ge 1 ] && [ -d /run/systemd/system ]; then\n\t# Upgrade: stopped now, started by the new package's %post\n\t{SYSTEMCTL} stop {all} >/dev/null 2>&1 || :\nfi\n"
        ));
    }
    code.preun.push_str(&block(&preun));
    // %systemd_postun_with_restart: after an upgrade, restart what runs.
    let mut postun = format!(
        "if [ -d /run/systemd/system ]; then\n\t{SYSTEMCTL} daemon-reload >/dev/null 2>&1 || :\nfi\n"
    );
    if restart {
        postun.push_str(&format!(
            "if [ $1 -ge 1 ] && [ -x {SYSTEMCTL} ]; then\n\t# Package upgrade, not uninstall\n\t{SYSTEMCTL} try-restart {all} >/dev/null 2>&1 || :\nfi\n"
        ));
    }
    code.postun.push_str(&block(&postun));
}

/// `%systemd_user_post` / `%systemd_user_preun`: enabled for every user by the presets, never
/// started or stopped (no user session belongs to rpm).
fn user_code(code: &mut UnitCode, enable: &BTreeSet<String>, cfg: &SystemdUnitsConfig) {
    if enable.is_empty() {
        return;
    }
    let list = quoted(enable);
    if cfg.enable.unwrap_or(true) {
        code.post.push_str(&block(&format!(
            "if [ $1 -eq 1 ] && [ -x {SYSTEMCTL} ]; then\n\t{SYSTEMCTL} --no-reload preset --global {list} >/dev/null 2>&1 || :\nfi\n"
        )));
    }
    code.preun.push_str(&block(&format!(
        "if [ $1 -eq 0 ] && [ -x {SYSTEMCTL} ]; then\n\t{SYSTEMCTL} --no-reload disable --global {list} >/dev/null 2>&1 || :\nfi\n"
    )));
}

/// The interpreter a script's `#!` line names (`/bin/sh` without one).
fn interpreter(body: &str) -> String {
    body.lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("/bin/sh")
        .to_string()
}

/// One scriptlet from the user's script (if any) and the generated code.
fn merge(user: Option<String>, code: &str) -> Option<Scriptlet> {
    match user {
        Some(text) if text.contains("#DEBHELPER#") => Some(Scriptlet {
            interpreter: interpreter(&text),
            body: text.replace("#DEBHELPER#", code.trim_end()),
        }),
        Some(text) => Some(Scriptlet {
            interpreter: interpreter(&text),
            body: if code.is_empty() {
                text
            } else {
                format!("{}\n{code}", text.trim_end())
            },
        }),
        None if code.is_empty() => None,
        None => Some(Scriptlet::sh(code)),
    }
}

/// The scriptlets of a deb-derived package: the maintainer scripts of `dir` (debhelper's
/// lookup: `<package>.<script>`, then `<script>`) merged with the unit code.
pub fn from_deb(dir: Option<&Path>, package: &str, code: &UnitCode) -> Result<Scripts> {
    let read = |name: &str| -> Result<Option<String>> {
        let Some(dir) = dir else { return Ok(None) };
        for candidate in [dir.join(format!("{package}.{name}")), dir.join(name)] {
            if candidate.is_file() {
                return forge_core::fsx::read_to_string(&candidate).map(Some);
            }
        }
        Ok(None)
    };
    Ok(Scripts {
        pre: merge(read("preinst")?, ""),
        post: merge(read("postinst")?, &code.post),
        preun: merge(read("prerm")?, &code.preun),
        postun: merge(read("postrm")?, &code.postun),
        pretrans: None,
        posttrans: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_forge_deb::assets::{Content, Origin};

    fn unit(dest: &str, text: &str, dir: &Path) -> Asset {
        let p = dir.join(dest.replace('/', "_"));
        std::fs::write(&p, text).unwrap();
        Asset {
            dest: dest.into(),
            mode: 0o644,
            content: Content::File(p),
            built: false,
            origin: Origin::Systemd,
        }
    }

    #[test]
    fn system_units_follow_the_systemd_macros() {
        let dir = tempfile::tempdir().unwrap();
        let assets = [
            unit(
                "usr/lib/systemd/system/app.service",
                "[Service]\nExecStart=/usr/bin/app\n[Install]\nWantedBy=multi-user.target\n",
                dir.path(),
            ),
            unit(
                "usr/lib/systemd/system/app-helper.service",
                "[Service]\nExecStart=/bin/true\n",
                dir.path(),
            ),
        ];
        let code = unit_code(&assets, &[SystemdUnitsConfig::default()]).unwrap();
        // Preset only the unit with an [Install] section; start both on first installation.
        assert!(
            code.post.contains("--no-reload preset 'app.service' "),
            "{}",
            code.post
        );
        assert!(
            code.post
                .contains("start 'app-helper.service' 'app.service'"),
            "{}",
            code.post
        );
        assert!(code.post.contains("[ $1 -eq 1 ]"));
        assert!(code.preun.contains("[ $1 -eq 0 ]") && code.preun.contains("disable --now"));
        assert!(code.postun.contains("[ $1 -ge 1 ]") && code.postun.contains("try-restart"));

        let quiet = SystemdUnitsConfig {
            enable: Some(false),
            start: Some(false),
            restart_after_upgrade: Some(false),
            ..Default::default()
        };
        let code = unit_code(&assets, &[quiet]).unwrap();
        assert_eq!(code.post, "");
        assert!(code
            .preun
            .contains("stop 'app-helper.service' 'app.service'"));
        assert!(!code.postun.contains("try-restart"));
    }

    #[test]
    fn maintainer_scripts_map_and_take_the_unit_code() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("postinst"),
            "#!/bin/bash\nset -e\n#DEBHELPER#\necho done\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("app.preinst"), "#!/bin/sh\necho pre\n").unwrap();
        std::fs::write(dir.path().join("preinst"), "#!/bin/sh\necho not me\n").unwrap();
        let code = UnitCode {
            post: "POST\n".into(),
            preun: "PREUN\n".into(),
            postun: String::new(),
        };
        let s = from_deb(Some(dir.path()), "app", &code).unwrap();
        let post = s.post.unwrap();
        assert_eq!(post.interpreter, "/bin/bash");
        assert_eq!(post.body, "#!/bin/bash\nset -e\nPOST\necho done\n");
        assert!(s.pre.unwrap().body.contains("echo pre"));
        assert_eq!(s.preun.unwrap().body, "PREUN\n");
        assert!(s.postun.is_none());
    }
}

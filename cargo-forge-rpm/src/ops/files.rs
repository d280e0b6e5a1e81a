//! The files and scriptlets of a package, from either source: `[package.metadata.generate-rpm]`
//! ([`from_generate_rpm`]) or `[package.metadata.deb]` and Cargo.toml ([`from_deb`]).
//!
//! Both resolve their assets with forge-deb's [`cargo_forge_deb::assets::resolve`] (the same
//! `target/release/` rewriting to the built target and profile, globs, modes and destination
//! checks), so the RPM attributes (`%config`, `%doc`, owner) ride alongside in [`Attrs`], keyed
//! by destination, which stripping and the other steps leave unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use cargo_forge_deb::assets::{self, Asset, AssetContext, Content, Origin};
use cargo_forge_deb::manifest::AssetSpec;
use cargo_forge_deb::ops::PackageJob;
use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::Shell;

use crate::metadata::GenerateRpmMetadata;
use crate::writer::{Scriptlet, Scripts};

/// The RPM attributes of a file (default: root-owned, no flags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    pub config: bool,
    pub noreplace: bool,
    pub doc: bool,
    pub license: bool,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// What goes into a package before stripping and requires.
pub struct Contents {
    pub assets: Vec<Asset>,
    /// By destination (relative, as in `assets`).
    pub attrs: BTreeMap<String, Attrs>,
    pub scripts: Scripts,
}

/// The files of a `[package.metadata.generate-rpm]` table: each asset resolved on its own so
/// its attributes follow every file a glob matches.
pub fn from_generate_rpm(
    g: &GenerateRpmMetadata,
    ctx: &AssetContext<'_>,
    manifest: &Path,
) -> Result<Contents> {
    let mut all = Vec::new();
    let mut attrs = BTreeMap::new();
    let Some(list) = g.assets.as_ref().filter(|a| !a.is_empty()) else {
        return Err(forge_core::exit::usage(format!(
            "`[package.metadata.generate-rpm]` of `{}` has no `assets`",
            manifest.display()
        )))
        .hint("list the files, e.g. `assets = [{ source = \"target/release/NAME\", dest = \"/usr/bin/NAME\", mode = \"755\" }]`");
    };
    for a in list {
        let spec = AssetSpec::File {
            source: a.source.clone(),
            dest: a.dest.trim_start_matches('/').to_string(),
            mode: a.mode.clone(),
            preserve_symlinks: None,
        };
        let (config, noreplace) = a.config.as_ref().map(|c| c.flags()).unwrap_or_default();
        for r in assets::resolve(Some(std::slice::from_ref(&spec)), ctx)? {
            attrs.insert(
                r.dest.clone(),
                Attrs {
                    config,
                    noreplace,
                    doc: a.doc.unwrap_or(false),
                    license: false,
                    user: a.user.clone(),
                    group: a.group.clone(),
                },
            );
            all.push(r);
        }
    }
    let dir = ctx.package_dir;
    let script = |body: &Option<String>, prog: &Option<Vec<String>>| -> Result<Option<Scriptlet>> {
        let Some(body) = body else { return Ok(None) };
        // cargo-generate-rpm's rule: a value naming a file of the package is that file's text.
        let path = dir.join(body);
        let text = if !body.contains('\n') && path.is_file() {
            forge_core::fsx::read_to_string(&path)
                .context("failed to read a script of [package.metadata.generate-rpm]")
                .kind(ErrorKind::Usage)?
        } else {
            body.clone()
        };
        let interpreter = prog
            .as_ref()
            .and_then(|p| p.first())
            .cloned()
            .unwrap_or_else(|| "/bin/sh".into());
        Ok(Some(Scriptlet {
            body: text,
            interpreter,
        }))
    };
    let scripts = Scripts {
        pre: script(&g.pre_install_script, &g.pre_install_script_prog)?,
        post: script(&g.post_install_script, &g.post_install_script_prog)?,
        preun: script(&g.pre_uninstall_script, &g.pre_uninstall_script_prog)?,
        postun: script(&g.post_uninstall_script, &g.post_uninstall_script_prog)?,
        pretrans: script(&g.pre_trans_script, &g.pre_trans_script_prog)?,
        posttrans: script(&g.post_trans_script, &g.post_trans_script_prog)?,
    };
    Ok(Contents {
        assets: all,
        attrs,
        scripts,
    })
}

/// The files of a package derived from `[package.metadata.deb]`: its assets (`$auto` by
/// default), its systemd units (forge-deb's lookup), conf files as `%config(noreplace)`, files
/// under `usr/share/doc/` as `%doc`; the maintainer scripts and unit code as scriptlets.
pub fn from_deb(job: &PackageJob, ctx: &AssetContext<'_>, shell: &Shell) -> Result<Contents> {
    let meta = &job.metadata;
    let resolved = assets::resolve(meta.assets.as_deref(), ctx)?;
    let (auto, explicit): (Vec<Asset>, Vec<Asset>) =
        resolved.into_iter().partition(|a| a.origin == Origin::Auto);
    let tables = meta
        .systemd_units
        .as_ref()
        .map(|u| u.list())
        .unwrap_or_default();
    let units = cargo_forge_deb::ops::package::contents::systemd_units(job, &tables, shell);
    let (all, warnings) = assets::dedup(auto.into_iter().chain(units).chain(explicit).collect());
    for w in warnings {
        shell.warn(w);
    }
    let conf: Vec<String> = meta
        .conf_files
        .iter()
        .flatten()
        .map(|c| c.trim_start_matches('/').to_string())
        .collect();
    let mut attrs = BTreeMap::new();
    for a in &all {
        let config = a.dest.starts_with("etc/") || conf.contains(&a.dest);
        let doc = is_doc_path(&a.dest);
        if (config || doc) && !matches!(a.content, Content::Symlink(_)) {
            attrs.insert(
                a.dest.clone(),
                Attrs {
                    config,
                    noreplace: config,
                    doc,
                    ..Attrs::default()
                },
            );
        }
    }
    let code = crate::scriptlets::unit_code(&all, &tables)?;
    let scripts_dir = meta
        .maintainer_scripts
        .as_ref()
        .map(|d| job.package_dir.join(d));
    let scripts = crate::scriptlets::from_deb(scripts_dir.as_deref(), &job.name, &code)?;
    Ok(Contents {
        assets: all,
        attrs,
        scripts,
    })
}

/// Whether rpmbuild would mark a file as documentation (`%__docdir_path`: the doc, man and info
/// directories), which rpmlint expects of them.
pub fn is_doc_path(dest: &str) -> bool {
    ["usr/share/doc/", "usr/share/man/", "usr/share/info/"]
        .iter()
        .any(|d| dest.starts_with(d))
}

/// The licence texts of the package (`LICENSE*`, `COPYING*` of the package, else of the
/// workspace, found by forge-deb's rules) as `%license` files in
/// `/usr/share/licenses/NAME/`, unless the assets install them there already.
pub fn license_files(contents: &mut Contents, package_dir: &Path, workspace: &Path, name: &str) {
    for t in cargo_forge_deb::copyright::find_license_files(&[package_dir, workspace]) {
        let dest = format!("usr/share/licenses/{name}/{}", t.file);
        if contents.assets.iter().any(|a| a.dest == dest) {
            continue;
        }
        contents.attrs.insert(
            dest.clone(),
            Attrs {
                license: true,
                ..Attrs::default()
            },
        );
        contents.assets.push(Asset {
            dest,
            mode: 0o644,
            content: Content::Bytes(t.text.into_bytes()),
            built: false,
            origin: Origin::Generated,
        });
    }
}

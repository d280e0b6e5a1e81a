//! Publishing a staged release to every host of a release ([`publish`]), resumably and in the
//! order where nothing half-done is visible; `--abort` ([`abort`]); the GitHub Actions job
//! summary and outputs ([`report_gha`]).

use anyhow::{Context, Result};

use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::project::Project;
use forge_core::Shell;

use super::*;
use crate::plan::{ReleasePlan, UnitPlan};
use crate::stage::{AssetKind, Staged};

/// The hosts of a release, with credentials: `skip_oci` leaves the `oci` hosts out (the split
/// flow tags images with `merge`).
fn unit_hosts(
    plan: &ReleasePlan,
    unit: &UnitPlan,
    exec: &Exec,
    skip_oci: bool,
) -> Result<Vec<Box<dyn Host>>> {
    unit.hosts
        .iter()
        .filter(|h| !(skip_oci && matches!(h.spec, HostSpec::Oci { .. })))
        .map(|h| make_host(&h.spec, &exec.http, &plan.workspace_root, Credentials::Env))
        .collect()
}

/// `--abort`: rolls back every host's unpublished uploads (drafts, partial directories) and
/// removes the state file. Published releases are never touched.
pub fn abort(
    project: &Project,
    plan: &ReleasePlan,
    unit: &UnitPlan,
    exec: &Exec,
    shell: &Shell,
) -> Result<()> {
    let release_dir = crate::plan::release_dir(&project.target_dir, unit);
    let state_path = release_dir.join("state.json");
    let Some(mut state) = State::load(&state_path)? else {
        shell.status(
            "Unchanged",
            format!(
                "no release of {} {} in progress",
                unit.packages.join(", "),
                plan.version
            ),
        );
        return Ok(());
    };
    if state.tag_pushed || state.hosts.values().any(|h| h.published) {
        return Err(usage(format!(
            "{} is already (partly) published: it cannot be aborted; run the same command again to finish it",
            unit.tag
        )));
    }
    let staged: Staged = serde_json::from_slice(&forge_core::fsx::read(
        &release_dir.join("staging/staged.json"),
    )?)
    .context("the staged release is gone: nothing to roll back against")?;
    for h in unit_hosts(plan, unit, exec, false)? {
        let mut hs = state.hosts.get(&h.id()).cloned().unwrap_or_default();
        h.rollback(&staged, &mut hs, shell)
            .with_context(|| format!("failed to roll back {}", h.id()))?;
        state.hosts.insert(h.id(), hs);
        shell.status("Rolled back", h.id());
    }
    std::fs::remove_file(&state_path)
        .with_context(|| format!("failed to remove `{}`", state_path.display()))?;
    Ok(())
}

/// GitHub Actions (no-op elsewhere), after a publish: the job summary (version, tag, each host
/// with where the release is, the assets) and the outputs `version`, `tag`, `release-url` (the
/// release page on GitHub or Gitea when there is one, else the first host's place) and
/// `artifacts` (the published files' staged paths, one per line).
pub fn report_gha(
    project: &Project,
    plan: &ReleasePlan,
    published: &[(&UnitPlan, Staged)],
    exec: &Exec,
    shell: &Shell,
) -> Result<()> {
    use forge_core::gha::{code, Table};
    let gha = shell.gha();
    if !gha.is_enabled() {
        return Ok(());
    }
    let mut hosts = Table::new(&["Host", "Published at"]);
    let mut assets = Table::new(&["Asset", "Target", "Size (bytes)", "SHA-256"]);
    let mut page = None;
    let mut first = None;
    let mut paths: Vec<String> = Vec::new();
    for (unit, staged) in published {
        let state_path = crate::plan::release_dir(&project.target_dir, unit).join("state.json");
        let state = State::load(&state_path)?.unwrap_or_default();
        for h in &unit.hosts {
            let host = make_host(&h.spec, &exec.http, &plan.workspace_root, Credentials::None)?;
            let host_state = state.hosts.get(&host.id()).cloned().unwrap_or_default();
            let url = host.release_url(staged, &host_state);
            if let Some(u) = &url {
                if page.is_none()
                    && matches!(h.spec, HostSpec::Github { .. } | HostSpec::Gitea { .. })
                {
                    page = Some(u.clone());
                }
                first.get_or_insert_with(|| u.clone());
            }
            hosts.row(vec![code(&host.id()), url.unwrap_or_default()]);
        }
        for a in &staged.assets {
            assets.row(vec![
                code(&a.name),
                a.target.clone().unwrap_or_default(),
                a.size.to_string(),
                code(&a.sha256),
            ]);
            paths.push(a.path.display().to_string());
        }
    }
    let tags: Vec<&str> = published.iter().map(|(u, _)| u.tag.as_str()).collect();
    let names: Vec<&str> = published
        .iter()
        .flat_map(|(u, _)| u.packages.iter().map(String::as_str))
        .collect();
    gha.summary(&format!(
        "### cargo forge-release: {} {} (tag {})\n\n{}\n{}",
        names.join(", "),
        plan.version,
        tags.iter().map(|t| code(t)).collect::<Vec<_>>().join(", "),
        hosts.render(),
        assets.render()
    ))?;
    gha.output("version", &plan.version)?;
    gha.output("tag", &tags.join("\n"))?;
    gha.output("release-url", &page.or(first).unwrap_or_default())?;
    gha.output("artifacts", &paths.join("\n"))
}

/// Publishes a staged release to every host of `unit`, resumably.
pub fn publish(
    project: &Project,
    plan: &ReleasePlan,
    unit: &UnitPlan,
    staged: &Staged,
    exec: &Exec,
    skip_oci: bool,
    no_tag: bool,
    shell: &Shell,
) -> Result<()> {
    let root = &project.workspace_root;
    let hosts = unit_hosts(plan, unit, exec, skip_oci)?;
    let state_path = crate::plan::release_dir(&project.target_dir, unit).join("state.json");
    let sums = staged
        .assets_of(AssetKind::Checksums)
        .next()
        .map(|a| a.sha256.clone())
        .unwrap_or_default();
    let mut state = match State::load(&state_path)? {
        Some(s) if s.completed => {
            shell.status(
                "Unchanged",
                format!(
                    "{} {} is already published (`{}`)",
                    unit.packages.join(", "),
                    plan.version,
                    state_path.display()
                ),
            );
            return Ok(());
        }
        Some(s) if s.checksums != sums => {
            // Archives hold no timestamps but SOURCE_DATE_EPOCH: different sums mean different content.
            if s.hosts.values().any(|h| h.published) {
                return Err(usage(format!(
                    "the files built now differ from those already partly published for {} (`{}`): finish with the same sources, or remove the state file to start over",
                    unit.tag,
                    state_path.display()
                )));
            }
            State {
                version: plan.version.clone(),
                tag: unit.tag.clone(),
                checksums: sums.clone(),
                ..s
            }
        }
        Some(s) => {
            shell.status(
                "Resuming",
                format!("{} from `{}`", unit.tag, state_path.display()),
            );
            s
        }
        None => State {
            version: plan.version.clone(),
            tag: unit.tag.clone(),
            checksums: sums.clone(),
            ..State::default()
        },
    };
    state.save(&state_path)?;

    for h in &hosts {
        let hs = state.hosts.get(&h.id()).cloned().unwrap_or_default();
        h.preflight(staged, &hs, shell)
            .with_context(|| format!("{} is not ready", h.id()))
            .kind(ErrorKind::Network)?;
    }
    // 1. Everything readers cannot see yet.
    let mut failed: Option<anyhow::Error> = None;
    for h in &hosts {
        let id = h.id();
        let mut hs = state.hosts.get(&id).cloned().unwrap_or_default();
        let mut save = |s: &HostState| -> Result<()> {
            let mut st = State::load(&state_path)?.unwrap_or_default();
            st.hosts.insert(id.clone(), s.clone());
            st.save(&state_path)
        };
        let r = h.prepare(staged, &mut Progress::new(&mut hs, &mut save), shell);
        state = State::load(&state_path)?.unwrap_or(state);
        if let Err(e) = r {
            failed = Some(e.context(format!("failed to upload to {id}")));
            break;
        }
    }
    if let Some(e) = failed {
        // Drafts, objects and untagged manifests stay: readers cannot see them, and the next run
        // reuses them instead of uploading again. `--abort` removes them.
        state.save(&state_path)?;
        return Err(e).kind(ErrorKind::Network).hint(format!(
            "nothing was published; fix the cause and run the same command again (finished uploads are reused), or `--abort` to remove the unpublished uploads (state: `{}`)",
            state_path.display()
        ));
    }
    // 2. The tag.
    if unit.make_tag && !no_tag {
        if !state.tag_created {
            if !crate::git::tag_exists(root, &unit.tag, shell)? {
                let kind = if unit.sign.tag == Some(true) {
                    crate::git::TagKind::Signed(unit.sign.gpg.clone())
                } else {
                    crate::git::TagKind::Annotated
                };
                crate::git::create_tag(
                    root,
                    &unit.tag,
                    &format!("{} {}", unit.packages.join(", "), plan.version),
                    &kind,
                    shell,
                )
                .with_context(|| format!("failed to create tag `{}`", unit.tag))
                .hint("nothing is visible yet; fix the cause and run the same command again")?;
            }
            state.tag_created = true;
            state.save(&state_path)?;
            shell.status("Tagged", &unit.tag);
        }
        if let (Some(r), false) = (&unit.remote, state.tag_pushed) {
            crate::git::push_tag(root, r, &unit.tag, plan.bump, shell)
                .with_context(|| format!("failed to push tag `{}` to `{r}`", unit.tag))
                .kind(ErrorKind::Network)?;
            state.tag_pushed = true;
            state.save(&state_path)?;
            shell.status("Pushed", format!("tag {} to {r}", unit.tag));
        }
    }
    // 3. Make it visible, host by host; tags and latest pointers last inside each host.
    for h in &hosts {
        let id = h.id();
        let mut hs = state.hosts.get(&id).cloned().unwrap_or_default();
        if hs.published {
            continue;
        }
        let mut save = |s: &HostState| -> Result<()> {
            let mut st = State::load(&state_path)?.unwrap_or_default();
            st.hosts.insert(id.clone(), s.clone());
            st.save(&state_path)
        };
        h.publish(staged, &mut Progress::new(&mut hs, &mut save), shell)
            .with_context(|| format!("failed to publish to {id}"))
            .kind(ErrorKind::Network)
            .hint("run the same command again to resume: finished steps are not repeated")?;
        state = State::load(&state_path)?.unwrap_or(state);
    }
    state.completed = true;
    state.save(&state_path)?;
    Ok(())
}

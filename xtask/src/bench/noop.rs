//! `noop-overhead`: `cargo forge-deb` (building) vs `cargo build --release` on
//! `tests/fixtures/cli-tool` when nothing changed (the previous package included, as a user's
//! would be): what packaging adds to an up-to-date build, as the median of paired differences.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::common::{
    copy_dir, describe_sample, forge_deb_cmd, idle, median, neutral_env, round, secs, timed,
    BenchResult, Row, Series,
};
use super::deb::single_deb;
use super::Options;
use crate::cmd::{self, status, warn};

pub(super) const NOOP_FIXTURE: &str = "tests/fixtures/cli-tool";
pub(super) const NOOP_MAX_EXTRA_SECS: f64 = 0.3;

pub(super) fn run(forge_deb: &Path, bench_dir: &Path, opts: &Options) -> Result<BenchResult> {
    let runs = opts.runs;
    let krate = bench_dir.join("noop").join("cli-tool");
    if krate.exists() {
        std::fs::remove_dir_all(&krate)
            .with_context(|| format!("could not remove {}", krate.display()))?;
    }
    copy_dir(&cmd::project_root().join(NOOP_FIXTURE), &krate, true)?;
    status("Copied", format!("{NOOP_FIXTURE} to {}", krate.display()));
    let debian_out = krate.join("target/debian");

    let ours_cmd = || forge_deb_cmd(forge_deb, &krate);
    let peer_cmd = || {
        let mut c = cmd::cargo();
        c.args(["build", "--release", "--manifest-path"])
            .arg(krate.join("Cargo.toml"));
        neutral_env(&mut c, &krate);
        c
    };
    let ours_shown = cmd::display(&ours_cmd());
    let peer_shown = cmd::display(&peer_cmd());

    // Warm-up: build everything once each way and package once.
    status("Warming", format!("`{peer_shown}` then `{ours_shown}`"));
    let first_build = timed(&mut peer_cmd())?;
    let first_package = timed(&mut ours_cmd())?;

    let mut ours = Series::default();
    let mut peer = Series::default();
    let mut rebuilt = Vec::new();
    // "Nothing changed" includes the package of the previous run: it stays where it is, as it
    // would for a user, so an incremental cargo forge-deb may skip work. It must still be there.
    for round in 0..=runs {
        let waited_o = idle(opts, round);
        let o = timed(&mut ours_cmd())?;
        let waited_p = idle(opts, round);
        let p = timed(&mut peer_cmd())?;
        single_deb(&debian_out)?;
        for (who, s) in [("cargo forge-deb", &o), ("cargo build", &p)] {
            if String::from_utf8_lossy(&s.output.stderr).contains("Compiling ") {
                rebuilt.push(format!("{who} (round {round})"));
            }
        }
        let what = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round}/{runs}")
        };
        status(
            "Measured",
            format!(
                "noop-overhead {what}: ours {}, cargo build {}",
                describe_sample(&o),
                describe_sample(&p)
            ),
        );
        ours.record(round, &o, waited_o);
        peer.record(round, &p, waited_p);
    }
    if !rebuilt.is_empty() {
        warn(format!(
            "cargo compiled something in a run meant to be a no-op: {}",
            rebuilt.join(", ")
        ));
    }
    let diffs: Vec<f64> = ours
        .times
        .iter()
        .zip(&peer.times)
        .map(|(o, p)| o - p)
        .collect();
    let extra = median(&diffs);
    let (mo, mp) = (ours.median(), peer.median());
    let met = extra <= NOOP_MAX_EXTRA_SECS && rebuilt.is_empty();
    let target = format!("extra <= {NOOP_MAX_EXTRA_SECS} s (median of pairs: {extra:+.3} s)");
    let rows = vec![Row {
        label: "noop-overhead".into(),
        ours: secs(mo),
        peer: secs(mp),
        ratio: format!("{:.2}x", mo / mp),
        target: target.clone(),
        met: Some(met),
    }];
    Ok(BenchResult {
        rows,
        json: json!({
            "name": "noop-overhead",
            "crate": krate,
            "ours": { "command": ours_shown, "warmup_first_package_s": round(first_package.secs, 4), "times": ours.json() },
            "peer": { "command": peer_shown, "warmup_first_build_s": round(first_build.secs, 4), "times": peer.json() },
            "paired_differences_s": diffs.iter().map(|d| round(*d, 4)).collect::<Vec<_>>(),
            "median_extra_s": round(extra, 4),
            "difference_of_medians_s": round(mo - mp, 4),
            "rebuilt_in_measured_runs": rebuilt,
            "target": target,
            "met": met,
        }),
        contention: ours.background_cores().max(peer.background_cores()),
        levels: Vec::new(),
    })
}

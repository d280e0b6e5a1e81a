//! `deb-package`: the same prebuilt payload (see [`super::payload`]) packaged by
//! `cargo forge-deb --no-build` and `cargo deb --no-build`, each at its defaults, then at equal
//! compression (xz preset 6), then at the extra xz levels of `--xz-levels` (ours only, a
//! trade-off table). Each case runs the two sides alternately after one warm-up.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::common::{
    describe_sample, forge_deb_cmd, idle, median, megabytes, neutral_env, round, secs, timed,
    BenchResult, Row, Sample, Series,
};
use super::{payload, Options};
use crate::cmd::{self, status};
use crate::setup::Tools;

/// The targets.
pub(super) const DEB_DEFAULT_TIME_RATIO: f64 = 0.5;
pub(super) const DEB_DEFAULT_SIZE_RATIO: f64 = 1.1;
pub(super) const DEB_EQUAL_TIME_RATIO: f64 = 1.0;

/// What cargo-deb 3.8 does at its defaults (src/util/compress.rs: `MtStreamBuilder` with
/// `preset(6)`, `threads(available_parallelism)`, no block size, i.e. liblzma's 3 × dictionary).
pub(super) const PEER_XZ_SETTINGS: &str =
    "xz preset 6, one thread per core, liblzma's default block size (3 x 8 MiB dictionary = 24 MiB)";
/// What cargo-forge-deb's xz adds to the plan's format/level/threads (writer.rs `XZ_BLOCK_SIZE`).
pub(super) const OURS_XZ_BLOCK: &str = "fixed 4 MiB blocks";

/// The compression cargo-forge-deb plans with `extra` args (`--dry-run --message-format json`).
pub(super) fn planned_compression(forge_deb: &Path, krate: &Path, extra: &[&str]) -> Result<Value> {
    let mut c = forge_deb_cmd(forge_deb, krate);
    c.args(["--no-build", "--dry-run", "--message-format", "json"])
        .args(extra);
    let out = cmd::output(&mut c)?;
    let plan: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`{}` printed no JSON plan", cmd::display(&c)))?;
    Ok(plan["compression"].clone())
}

pub(super) fn describe_ours(compression: &Value) -> String {
    let format = compression["format"].as_str().unwrap_or("?");
    let block = if format == "xz" {
        format!(", {OURS_XZ_BLOCK}")
    } else {
        String::new()
    };
    format!(
        "{format} level {}, {} threads{block}",
        compression["level"], compression["threads"]
    )
}

// ---------------------------------------------------------------------------------------------
// deb-package

/// A measured case of `deb-package`: ours and optionally the peer, with their extra arguments.
pub(super) struct DebCase {
    name: String,
    ours_args: Vec<String>,
    peer_args: Option<Vec<String>>,
}

#[derive(Default)]
pub(super) struct DebSide {
    runs: Series,
    sizes: Vec<u64>,
    command: String,
    installed_size_kib: Option<u64>,
    files: Option<usize>,
}

/// `deb-package`: every case (defaults, equal compression, extra xz levels) measured, then
/// summarised against the targets.
pub(super) fn run(
    forge_deb: &Path,
    tools: &Tools,
    bench_dir: &Path,
    opts: &Options,
) -> Result<BenchResult> {
    let krate = bench_dir.join("deb-payload");
    let payload = payload::make_payload(&krate, forge_deb)?;
    let out_root = krate.join("out");
    let mut summary = Summary::default();
    for case in &cases(opts) {
        let (ours_compression, ours, peer) =
            measure_case(case, forge_deb, tools, &krate, &out_root, opts)?;
        summary.add(case, &ours_compression, &ours, peer.as_ref());
    }
    Ok(BenchResult {
        rows: summary.rows,
        json: json!({
            "name": "deb-package",
            "payload": payload,
            "cases": summary.case_json,
        }),
        contention: summary.contention,
        levels: if opts.xz_levels.is_empty() {
            Vec::new()
        } else {
            summary.levels
        },
    })
}

/// The cases: defaults and xz preset 6 on both sides, then ours alone at `--xz-levels`.
fn cases(opts: &Options) -> Vec<DebCase> {
    let mut cases = vec![
        DebCase {
            name: "defaults".into(),
            ours_args: vec![],
            peer_args: Some(vec![]),
        },
        DebCase {
            name: "xz-6".into(),
            ours_args: strings(&["--compress", "xz", "--compress-level", "6"]),
            peer_args: Some(strings(&["--compress-type", "xz"])),
        },
    ];
    for level in &opts.xz_levels {
        cases.push(DebCase {
            name: format!("ours-xz-{level}"),
            ours_args: vec![
                "--compress".into(),
                "xz".into(),
                "--compress-level".into(),
                level.to_string(),
            ],
            peer_args: None,
        });
    }
    cases
}

/// One case: the planned compression of ours, then the warm-up and the alternating runs of
/// ours and (when the case has one) the peer, and what is in their last packages.
fn measure_case(
    case: &DebCase,
    forge_deb: &Path,
    tools: &Tools,
    krate: &Path,
    out_root: &Path,
    opts: &Options,
) -> Result<(Value, DebSide, Option<DebSide>)> {
    let ours_compression = planned_compression(
        forge_deb,
        krate,
        &case
            .ours_args
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )?;
    let ours_out = out_root.join(format!("{}-ours", case.name));
    let peer_out = out_root.join(format!("{}-peer", case.name));
    let ours_cmd = || {
        let mut c = forge_deb_cmd(forge_deb, krate);
        c.arg("--no-build")
            .args(&case.ours_args)
            .arg("-o")
            .arg(&ours_out);
        c
    };
    let peer_cmd = |args: &[String]| {
        let mut c = Command::new(&tools.cargo_deb);
        c.arg("--manifest-path")
            .arg(krate.join("Cargo.toml"))
            .arg("--no-build")
            .args(args)
            .arg("-o")
            .arg(&peer_out);
        neutral_env(&mut c, krate);
        c
    };
    let mut ours = DebSide {
        command: cmd::display(&ours_cmd()),
        ..DebSide::default()
    };
    let mut peer = case.peer_args.as_ref().map(|a| DebSide {
        command: cmd::display(&peer_cmd(a)),
        ..DebSide::default()
    });

    status(
        "Running",
        format!("deb-package/{}: {}", case.name, ours.command),
    );
    if let Some(p) = &peer {
        status(
            "Running",
            format!("deb-package/{}: {}", case.name, p.command),
        );
    }
    // Warm-up (page cache, dpkg-shlibdeps' caches), then the alternating runs.
    for round in 0..=opts.runs {
        let waited = idle(opts, round);
        let (sample, size) = package_once(&mut ours_cmd(), &ours_out)?;
        let mut line = format!("ours {}", describe_sample(&sample));
        ours.runs.record(round, &sample, waited);
        if round > 0 {
            ours.sizes.push(size);
        }
        if let (Some(p), Some(args)) = (peer.as_mut(), &case.peer_args) {
            let waited = idle(opts, round);
            let (sample, size) = package_once(&mut peer_cmd(args), &peer_out)?;
            line.push_str(&format!(", cargo-deb {}", describe_sample(&sample)));
            p.runs.record(round, &sample, waited);
            if round > 0 {
                p.sizes.push(size);
            }
        }
        let what = if round == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {round}/{}", opts.runs)
        };
        status(
            "Measured",
            format!("deb-package/{} {what}: {line}", case.name),
        );
    }
    // The last packages are still there: what is in them.
    describe_deb(&ours_out, &mut ours)?;
    if let Some(p) = peer.as_mut() {
        describe_deb(&peer_out, p)?;
    }
    Ok((ours_compression, ours, peer))
}

/// The rows, JSON and xz level table of the cases measured so far.
#[derive(Default)]
struct Summary {
    rows: Vec<Row>,
    case_json: Vec<Value>,
    /// cargo-deb at its defaults (the `defaults` case), for the informational level rows.
    peer_default_size: Option<u64>,
    peer_default_median: Option<f64>,
    contention: f64,
    levels: Vec<[String; 6]>,
}

impl Summary {
    /// Adds a measured case: against the targets when the peer ran, else against cargo-deb's
    /// defaults (informational).
    fn add(
        &mut self,
        case: &DebCase,
        ours_compression: &Value,
        ours: &DebSide,
        peer: Option<&DebSide>,
    ) {
        self.contention = self.contention.max(ours.runs.background_cores());
        if let Some(p) = peer {
            self.contention = self.contention.max(p.runs.background_cores());
        }
        let ours_median = ours.runs.median();
        let ours_size = *ours.sizes.last().unwrap_or(&0);
        let mut entry = json!({
            "case": case.name,
            "ours": side_json(ours),
            "ours_compression": describe_ours(ours_compression),
            "ours_planned_compression": ours_compression,
        });
        match peer {
            Some(p) => {
                let peer_median = p.runs.median();
                let peer_size = *p.sizes.last().unwrap_or(&0);
                let time_ratio = ours_median / peer_median;
                let size_ratio = ours_size as f64 / peer_size as f64;
                let (target, met) = if case.name == "defaults" {
                    self.peer_default_size = Some(peer_size);
                    self.peer_default_median = Some(peer_median);
                    self.levels.push(level_row(
                        ours_compression,
                        " (default)",
                        &ours.runs,
                        ours_size,
                        time_ratio,
                        size_ratio,
                    ));
                    (
                        format!(
                            "time <= {DEB_DEFAULT_TIME_RATIO}x, size <= {DEB_DEFAULT_SIZE_RATIO}x"
                        ),
                        time_ratio <= DEB_DEFAULT_TIME_RATIO
                            && size_ratio <= DEB_DEFAULT_SIZE_RATIO,
                    )
                } else {
                    (
                        format!("time <= {DEB_EQUAL_TIME_RATIO:.1}x"),
                        time_ratio <= DEB_EQUAL_TIME_RATIO,
                    )
                };
                self.rows.push(Row {
                    label: format!("deb-package ({})", case.name),
                    ours: secs(ours_median),
                    peer: secs(peer_median),
                    ratio: format!("{time_ratio:.2}x"),
                    target: target.clone(),
                    met: Some(met),
                });
                self.rows.push(Row {
                    label: "  package size".into(),
                    ours: megabytes(ours_size),
                    peer: megabytes(peer_size),
                    ratio: format!("{size_ratio:.3}x"),
                    target: String::new(),
                    met: None,
                });
                entry["peer"] = side_json(p);
                entry["peer_compression"] = json!(PEER_XZ_SETTINGS);
                entry["time_ratio"] = json!(round(time_ratio, 4));
                entry["size_ratio"] = json!(round(size_ratio, 4));
                entry["target"] = json!(target);
                entry["met"] = json!(met);
            }
            None => {
                // Informational: against cargo-deb's defaults, when they were measured.
                let (ratio, size_ratio) = match (self.peer_default_median, self.peer_default_size) {
                    (Some(m), Some(s)) => (ours_median / m, ours_size as f64 / s as f64),
                    _ => (f64::NAN, f64::NAN),
                };
                self.levels.push(level_row(
                    ours_compression,
                    "",
                    &ours.runs,
                    ours_size,
                    ratio,
                    size_ratio,
                ));
                entry["time_ratio_vs_peer_defaults"] = json!(round(ratio, 4));
                entry["size_ratio_vs_peer_defaults"] = json!(round(size_ratio, 4));
            }
        }
        self.case_json.push(entry);
    }
}

pub(super) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn side_json(side: &DebSide) -> Value {
    let mut v = side.runs.json();
    v["command"] = json!(side.command);
    v["sizes_bytes"] = json!(side.sizes);
    v["installed_size_kib"] = json!(side.installed_size_kib);
    v["data_entries"] = json!(side.files);
    v
}

/// One packaging run into an emptied `out` directory: its time and the package's size.
pub(super) fn package_once(c: &mut Command, out: &Path) -> Result<(Sample, u64)> {
    if out.exists() {
        std::fs::remove_dir_all(out)
            .with_context(|| format!("could not remove {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    let sample = timed(c)?;
    let deb = single_deb(out)?;
    let size = deb.metadata()?.len();
    Ok((sample, size))
}

pub(super) fn single_deb(dir: &Path) -> Result<PathBuf> {
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    match debs.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one .deb in {}, found {}",
            dir.display(),
            debs.len()
        ),
    }
}

/// `Installed-Size` and the number of data entries of the package in `out`.
pub(super) fn describe_deb(out: &Path, side: &mut DebSide) -> Result<()> {
    let deb = single_deb(out)?;
    let field = cmd::output(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .arg("Installed-Size"),
    )?;
    side.installed_size_kib = String::from_utf8_lossy(&field.stdout).trim().parse().ok();
    let contents = cmd::output(Command::new("dpkg-deb").arg("--contents").arg(&deb))?;
    side.files = Some(String::from_utf8_lossy(&contents.stdout).lines().count());
    Ok(())
}

/// A row of the xz level trade-off table: level, median time, median CPU, size, and time and
/// size relative to cargo-deb at its defaults.
pub(super) fn level_row(
    compression: &Value,
    suffix: &str,
    runs: &Series,
    size: u64,
    time_ratio: f64,
    size_ratio: f64,
) -> [String; 6] {
    [
        format!(
            "{} -{}{suffix}",
            compression["format"].as_str().unwrap_or("?"),
            compression["level"]
        ),
        secs(runs.median()),
        format!("{:.2} s", median(&runs.cpu)),
        megabytes(size),
        format!("{time_ratio:.2}x"),
        format!("{size_ratio:.3}x"),
    ]
}

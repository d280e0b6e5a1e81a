//! The report of `cargo xtask bench`: the summary table and the xz level table on stdout, and
//! what the JSON results record besides the numbers (the machine, the tool versions, the
//! workspace state, UTC time stamps without a date crate).

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::common::{cargo_deb_version, first_line, BenchResult, Row};
use crate::cmd;
use crate::setup::Tools;

pub(super) fn print_levels(levels: &[[String; 6]]) {
    let header = [
        "cargo forge-deb at",
        "time (median)",
        "cpu (median)",
        "size",
        "time vs cargo-deb",
        "size vs cargo-deb",
    ]
    .map(String::from);
    let rows: Vec<&[String; 6]> = std::iter::once(&header).chain(levels).collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let w: Vec<usize> = (0..6).map(width).collect();
    println!(
        "deb-package: time/size trade-off of the xz level (no target; cargo-deb at its defaults)"
    );
    for (n, r) in rows.iter().enumerate() {
        let mut line = format!("{:<w0$}", r[0], w0 = w[0]);
        for i in 1..6 {
            line.push_str(&format!("  {:>wi$}", r[i], wi = w[i]));
        }
        println!("{line}");
        if n == 0 {
            println!("{}", "-".repeat(w.iter().sum::<usize>() + 10));
        }
    }
    println!();
}

pub(super) fn print_table(results: &[BenchResult]) {
    let header = Row {
        label: "benchmark".into(),
        ours: "ours (median)".into(),
        peer: "peer (median)".into(),
        ratio: "ours/peer".into(),
        target: "target".into(),
        met: None,
    };
    let rows: Vec<&Row> = std::iter::once(&header)
        .chain(results.iter().flat_map(|r| &r.rows))
        .collect();
    let w = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0);
    let (w0, w1, w2, w3, w4) = (
        w(|r| &r.label),
        w(|r| &r.ours),
        w(|r| &r.peer),
        w(|r| &r.ratio),
        w(|r| &r.target),
    );
    println!();
    for (i, r) in rows.iter().enumerate() {
        let result = match (i, r.met) {
            (0, _) => "result",
            (_, Some(true)) => "MET",
            (_, Some(false)) => "MISSED",
            (_, None) => "",
        };
        let line = format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<w4$}  {result}",
            r.label, r.ours, r.peer, r.ratio, r.target
        );
        println!("{}", line.trim_end());
        if i == 0 {
            println!("{}", "-".repeat(w0 + w1 + w2 + w3 + w4 + 10 + 6));
        }
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// The machine and the tools

pub(super) fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: Option<u64> = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        });
    json!({
        "nproc": first_line(&mut Command::new("nproc")).and_then(|n| n.parse::<u32>().ok()),
        "available_parallelism": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": cpu_field("model name"),
        "cpu_mhz": cpu_field("cpu MHz"),
        "mem_total_kib": mem_kib,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
        "os": os,
        "hypervisor": cpuinfo.lines().any(|l| l.starts_with("flags") && l.contains(" hypervisor")),
    })
}

pub(super) fn tool_versions(forge_deb: &Path, tools: &Tools) -> Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let lzma = |bin: &Path| -> Value {
        let out = cmd::probe(Command::new("ldd").arg(bin));
        match out {
            Some(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                match text.lines().find(|l| l.contains("liblzma")) {
                    Some(l) => json!(format!("dynamic: {}", l.trim())),
                    None => json!("static (bundled in the binary)"),
                }
            }
            None => Value::Null,
        }
    };
    json!({
        "cargo-forge-deb": first_line(Command::new(forge_deb).args(["forge-deb", "--version"])),
        "cargo-forge-deb_path": forge_deb,
        "cargo-forge-deb_liblzma": lzma(forge_deb),
        "cargo-deb": cargo_deb_version(&tools.cargo_deb),
        "cargo-deb_path": tools.cargo_deb,
        "cargo-deb_liblzma": lzma(&tools.cargo_deb),
        "system_liblzma": first_line(Command::new("dpkg-query").args(["-W", "-f=${Version}\n", "liblzma5:amd64"])),
        "cargo": first_line(Command::new(&cargo).arg("--version")),
        "rustc": first_line(Command::new(&rustc).arg("--version")),
        "strip": first_line(Command::new("strip").arg("--version")),
        "buildah": first_line(Command::new("buildah").arg("--version")),
        "skopeo": first_line(Command::new("skopeo").arg("--version")),
        "docker-registry": first_line(Command::new("dpkg-query").args(["-W", "-f=docker-registry ${Version}\n", "docker-registry"])),
        "qemu-user": first_line(Command::new("qemu-aarch64").arg("--version")),
        "gpg": first_line(Command::new("gpg").arg("--version")),
        "debian_rustc": first_line(Command::new("/usr/bin/rustc").arg("-V")),
        "dpkg-shlibdeps": first_line(Command::new("dpkg-query").args(["-W", "-f=dpkg-dev ${Version}\n", "dpkg-dev"])),
    })
}

pub(super) fn workspace_state() -> Value {
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.args(args).current_dir(cmd::project_root());
        cmd::probe(&mut c)
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    json!({
        "commit": git(&["rev-parse", "HEAD"]),
        "dirty_files": git(&["status", "--porcelain"]).map(|s| s.lines().count()),
    })
}

// ---------------------------------------------------------------------------------------------
// Time stamps (UTC, without a date crate)

/// `(year, month, day, hour, minute, second)` of a time, in UTC.
pub(super) fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

pub(super) fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

pub(super) fn compact_stamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_stamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_339_425); // 2026-11-22T09:23:45Z
        assert_eq!(rfc3339(t), "2026-11-22T09:23:45Z");
        assert_eq!(compact_stamp(t), "20261122T092345Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}

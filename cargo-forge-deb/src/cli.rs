//! Command-line arguments of `cargo forge-deb` (parsing and validation only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use forge_core::cli::CommonArgs;

use crate::writer::Compression;

/// `cargo` as the top-level command, so `cargo forge-deb …` and `cargo-forge-deb forge-deb …`
/// parse the same way.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = forge_core::cli::styles())]
pub enum Cargo {
    #[command(
        name = "forge-deb",
        version,
        about,
        long_about = LONG_ABOUT,
        after_help = EXAMPLES
    )]
    ForgeDeb(DebCli),
}

const EXAMPLES: &str = "Examples:
  # A package for this machine, into target/debian/
  cargo forge-deb
  # arm64 and amd64 packages from one machine, checked by lintian
  cargo forge-deb --target aarch64-unknown-linux-gnu --target x86_64-unknown-linux-gnu --lint
  # One member of a workspace, signed with a gpg key
  cargo forge-deb -p my-server --sign-key 0xA1B2C3D4
  # What would be built, as JSON, without building
  cargo forge-deb --dry-run --message-format json";

const INIT_EXAMPLES: &str = "Examples:
  # Add a commented [package.metadata.deb] to ./Cargo.toml
  cargo forge-deb init
  # Show it without writing anything
  cargo forge-deb init --dry-run
  # For one member of a workspace, replacing the table it has
  cargo forge-deb init -p my-server --force";

const REPO_EXAMPLES: &str = "Examples:
  # Add packages to a signed APT repository in public/apt
  cargo forge-deb repo --dir public/apt --sign-key 0xA1B2C3D4 target/debian/app_1.2.3-1_amd64.deb
  # Another suite and component, unsigned
  cargo forge-deb repo --dir public/apt --suite testing --component contrib app_1.3.0-1_arm64.deb
  # Keep only the three newest versions of each package and architecture
  cargo forge-deb repo --dir public/apt --keep 3 --sign-key 0xA1B2C3D4 target/debian/*.deb";

const LONG_ABOUT: &str =
    "Build Debian packages (.deb) of Rust crates, for any Linux target, from one machine.

Reads [package.metadata.deb] exactly as cargo-deb does, cross-compiles with --target, and writes \
lintian-clean, reproducible packages to target/debian/. Produced paths are printed on stdout, one \
per line.

Start with `cargo forge-deb init`, which writes a commented [package.metadata.deb] into \
Cargo.toml.

Exit codes: 0 success, 1 error, 2 bad input (flags, Cargo.toml), 3 build failed, 4 a check failed \
(lintian, install test), 5 network, 6 a required tool is missing.";

/// `cargo forge-deb`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DebCli {
    #[command(subcommand)]
    pub command: Option<DebCommand>,
    #[command(flatten)]
    pub args: DebArgs,
}

/// Subcommands of `cargo forge-deb`.
#[derive(Debug, Subcommand)]
pub enum DebCommand {
    /// Write a commented starter [package.metadata.deb] into Cargo.toml
    #[command(
        long_about = "Write a commented starter [package.metadata.deb] into the package's Cargo.toml.

The maintainer comes from `authors`, the section from `categories`, the assets are the package's \
binaries (cargo-deb's `target/release/NAME` form) and its README, and dependencies are `$auto`; \
conffiles, systemd units and maintainer scripts are commented examples. The rest of Cargo.toml is \
kept as it is, comments and formatting included. An existing table is replaced only with --force.",
        after_help = INIT_EXAMPLES
    )]
    Init(forge_core::init::InitArgs),
    /// Create or update an APT repository from .deb files
    #[command(
        long_about = "Create or update an APT repository from .deb files.

Packages are copied into pool/; dists/SUITE/COMPONENT/binary-ARCH/Packages (plain, .gz, .xz) \
is rewritten for each architecture whose packages changed, then Release; with --sign-key, \
InRelease and Release.gpg too. Packages already in the index are not read again, and unchanged \
parts of the compressed indexes are reused, so an update of a large repository costs what \
changed. The directory can be served as it is: `deb [signed-by=KEY] URL SUITE COMPONENT`.",
        after_help = REPO_EXAMPLES
    )]
    Repo(RepoArgs),
}

/// Flags of a package build.
#[derive(Debug, Args, Default)]
pub struct DebArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Write the .deb to this file or directory (default: target/debian/)
    #[arg(
        short = 'o',
        long = "out",
        visible_alias = "output",
        value_name = "PATH"
    )]
    pub output: Option<PathBuf>,
    /// Build the variant `[package.metadata.deb.variants.NAME]`
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Override the whole Debian version (including revision)
    #[arg(long, value_name = "VERSION", conflicts_with = "deb_revision")]
    pub deb_version: Option<String>,
    /// Override the Debian revision
    #[arg(long, value_name = "REVISION")]
    pub deb_revision: Option<String>,
    /// Override the Maintainer field
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub maintainer: Option<String>,
    /// Override the Section field
    #[arg(long, value_name = "SECTION")]
    pub section: Option<String>,
    /// Compression of data.tar and control.tar (default: xz)
    #[arg(
        long,
        visible_alias = "compress-type",
        short = 'Z',
        value_parser = compression_parser(),
        value_name = "FORMAT"
    )]
    pub compress: Option<Compression>,
    /// Compression level (xz 0-9, default 4; zstd 1-22, default 19; gzip 1-9, default 9)
    #[arg(long, value_name = "N")]
    pub compress_level: Option<u32>,
    /// Faster, larger packages (compression level 1)
    #[arg(long)]
    pub fast: bool,
    /// Do not strip debug symbols from binaries
    #[arg(long, overrides_with = "strip")]
    pub no_strip: bool,
    /// Strip debug symbols from binaries (the default)
    #[arg(long, overrides_with = "no_strip")]
    pub strip: bool,
    /// Move debug symbols into a `<name>-dbgsym` .ddeb package (overrides `dbgsym`)
    #[arg(long, overrides_with = "no_dbgsym", help_heading = "Debug info")]
    pub dbgsym: bool,
    /// Do not make a -dbgsym package (overrides `dbgsym`)
    #[arg(long, overrides_with = "dbgsym", help_heading = "Debug info")]
    pub no_dbgsym: bool,
    /// Move debug symbols to a .debug file in the same package (overrides
    /// `separate-debug-symbols`)
    #[arg(
        long,
        overrides_with = "no_separate_debug_symbols",
        help_heading = "Debug info"
    )]
    pub separate_debug_symbols: bool,
    /// Keep debug symbols out of the package (overrides `separate-debug-symbols`)
    #[arg(
        long,
        overrides_with = "separate_debug_symbols",
        help_heading = "Debug info"
    )]
    pub no_separate_debug_symbols: bool,
    /// Compress separated debug symbols (`zlib`, the default, works with Rust's backtraces;
    /// `zstd` is smaller); overrides `compress-debug-symbols`
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "zlib",
        value_parser = ["zlib", "zstd"],
        value_name = "zstd|zlib",
        overrides_with = "no_compress_debug_symbols",
        help_heading = "Debug info"
    )]
    pub compress_debug_symbols: Option<String>,
    /// Do not compress separated debug symbols (overrides `compress-debug-symbols`)
    #[arg(
        long,
        overrides_with = "compress_debug_symbols",
        help_heading = "Debug info"
    )]
    pub no_compress_debug_symbols: bool,
    /// Install the package on this machine with `dpkg -i` (through sudo when not root),
    /// -dbgsym package included
    #[arg(long)]
    pub install: bool,
    /// Install the package on this machine, without its -dbgsym package
    #[arg(long)]
    pub no_install_dbgsym: bool,
    /// cargo-deb's `--cargo-build SUBCOMMAND`: `build` (the default) or `zigbuild`
    /// (= `--backend zigbuild`)
    #[arg(long, value_name = "SUBCOMMAND", hide = true)]
    pub cargo_build: Option<String>,
    /// cargo-deb's `--override-debug`: refused, see the error
    #[arg(long, value_name = "DEBUG", hide = true)]
    pub override_debug: Option<String>,
    /// cargo-deb's `--override-lto`: refused, see the error
    #[arg(long, value_name = "LTO", hide = true)]
    pub override_lto: Option<String>,
    /// cargo-deb's `--compress-system`: compression always runs in-process (multithreaded), with
    /// the same formats, so this changes nothing
    #[arg(long, hide = true)]
    pub compress_system: bool,
    /// cargo-deb's `--rsyncable`: refused, see the error
    #[arg(long, hide = true)]
    pub rsyncable: bool,
    /// cargo-deb's `-- <cargo arguments>`: refused, see the error
    #[arg(last = true, hide = true, value_name = "CARGO ARGS")]
    pub cargo_args: Vec<String>,
    /// The Multi-Arch field: `same` (co-installable libraries), `foreign`, or `none`
    #[arg(long, value_name = "MODE", value_parser = ["none", "same", "foreign"])]
    pub multiarch: Option<String>,
    /// Smoke-test every built binary (`BIN --version`) before packaging; `qemu` runs foreign
    /// binaries through qemu-user with the target's library prefix
    #[arg(long, value_name = "RUNNER", value_parser = ["qemu"])]
    pub runner: Option<String>,
    /// Run lintian on each package and fail on errors
    #[arg(long)]
    pub lint: bool,
    /// Install each package in a clean Debian root, run its binaries with --version, purge it
    #[arg(long)]
    pub install_test: bool,
    /// Sign each package with gpg's default key (a debsigs-style `_gpgorigin` member,
    /// verifiable with gpg); `--sign-key` names the key
    #[arg(long)]
    pub sign: bool,
    /// Sign each package with this gpg key (implies --sign). `--key` is the spelling of
    /// earlier releases, still accepted (hidden)
    #[arg(long, value_name = "KEYID", alias = "key")]
    pub sign_key: Option<String>,
    /// Plan only: print what would be built and where (no build, no files written)
    #[arg(long)]
    pub dry_run: bool,
}

/// `-Z`/`--compress` values: ours, and cargo-deb's `gz`.
fn compression_parser() -> impl clap::builder::TypedValueParser<Value = Compression> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("xz"),
        PossibleValue::new("zstd"),
        PossibleValue::new("gzip"),
        PossibleValue::new("gz").hide(true),
        PossibleValue::new("none"),
    ])
    .map(|s| Compression::parse(&s).unwrap_or(Compression::Xz))
}

impl DebArgs {
    /// cargo-deb's flags that have another form here: turned into ours (`--cargo-build
    /// zigbuild` is `--backend zigbuild`), or refused with one line saying what to use instead
    /// (exit code 2).
    pub fn resolve_cargo_deb_flags(&mut self) -> anyhow::Result<()> {
        use forge_core::exit::usage;
        if let Some(sub) = &self.cargo_build {
            match sub.as_str() {
                "build" => {}
                "zigbuild" => {
                    self.common.backend = Some(forge_core::cli::BackendChoice::Zigbuild);
                }
                other => {
                    return Err(usage(format!(
                        "`--cargo-build {other}` is not supported: use `--backend cargo|zigbuild|cross` (`--cargo-build zigbuild` is `--backend zigbuild`)"
                    )))
                }
            }
        }
        let profile = self
            .common
            .profile
            .clone()
            .unwrap_or_else(|| "release".into())
            .to_uppercase()
            .replace('-', "_");
        if let Some(v) = &self.override_debug {
            return Err(usage(format!(
                "`--override-debug` is not supported: set the environment variable `CARGO_PROFILE_{profile}_DEBUG={v}` (cargo reads it) or `debug` in the profile in Cargo.toml"
            )));
        }
        if let Some(v) = &self.override_lto {
            return Err(usage(format!(
                "`--override-lto` is not supported: set the environment variable `CARGO_PROFILE_{profile}_LTO={v}` (cargo reads it) or `lto` in the profile in Cargo.toml"
            )));
        }
        if self.rsyncable {
            return Err(usage(
                "`--rsyncable` is not supported: packages are reproducible (the same inputs give the same bytes); use `--compress none` for packages that rsync well",
            ));
        }
        if !self.cargo_args.is_empty() {
            return Err(usage(format!(
                "extra cargo arguments after `--` (`{}`) are not supported: use the flags (`--features`, `--profile`, `--locked`, ...) or `CARGO_*` environment variables",
                self.cargo_args.join(" ")
            )));
        }
        Ok(())
    }

    /// The `[package.metadata.deb]` keys the flags override: `maintainer`, `section` and the
    /// debug-symbol keys.
    pub fn apply_overrides(
        &self,
        mut meta: crate::manifest::DebMetadata,
    ) -> crate::manifest::DebMetadata {
        if let Some(m) = &self.maintainer {
            meta.maintainer = Some(m.clone());
        }
        if let Some(s) = &self.section {
            meta.section = Some(s.clone());
        }
        if self.dbgsym {
            meta.dbgsym = Some(true);
        }
        if self.no_dbgsym {
            meta.dbgsym = Some(false);
        }
        if self.separate_debug_symbols {
            meta.separate_debug_symbols = Some(true);
        }
        if self.no_separate_debug_symbols {
            meta.separate_debug_symbols = Some(false);
        }
        if self.compress_debug_symbols.is_some() {
            meta.compress_debug_symbols = Some(true);
        }
        if self.no_compress_debug_symbols {
            meta.compress_debug_symbols = Some(false);
        }
        meta
    }
}

/// `cargo forge-deb repo`.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The repository directory (created if missing)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The suite (distribution) name, as in `deb URL SUITE COMPONENT`
    #[arg(long, value_name = "SUITE", default_value = "stable")]
    pub suite: String,
    /// The component, as in `deb URL SUITE COMPONENT`
    #[arg(long, value_name = "COMPONENT", default_value = "main")]
    pub component: String,
    /// Origin field of the Release file
    #[arg(long)]
    pub origin: Option<String>,
    /// Label field of the Release file
    #[arg(long)]
    pub label: Option<String>,
    /// Sign Release (InRelease, Release.gpg) with this gpg key
    #[arg(long, value_name = "KEYID")]
    pub sign_key: Option<String>,
    /// Fail at once when another run is updating the repository, instead of waiting for it
    #[arg(long)]
    pub no_wait: bool,
    /// Keep only the N highest versions of each package and architecture in the suite's
    /// component; older ones leave the index, and their pool files are deleted unless another
    /// suite lists them
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// The .deb files to add
    #[arg(required = true, value_name = "DEB")]
    pub debs: Vec<PathBuf>,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[test]
    fn cli_is_consistent() {
        super::Cargo::command().debug_assert();
    }

    /// `cargo deb --help` of cargo-deb 3.8 (the end-to-end test `cargo_deb_flags` checks that it is
    /// the installed cargo-deb's).
    const CARGO_DEB_HELP: &str = include_str!("../cargo-deb-3.8-help.txt");

    /// The flags of a `--help` text: (short, long, takes a value).
    fn help_flags(help: &str) -> Vec<(Option<char>, String, bool)> {
        let mut out = Vec::new();
        for line in help.lines() {
            let t = line.trim_start();
            if !t.starts_with('-') || line.len() - t.len() > 6 {
                continue;
            }
            let mut short = None;
            let mut rest = t;
            if let Some(r) = t.strip_prefix('-').filter(|r| !r.starts_with('-')) {
                short = r.chars().next();
                rest = r[1..].trim_start_matches(',').trim_start();
            }
            let Some(long) = rest.strip_prefix("--") else {
                continue;
            };
            let name: String = long
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let after = &long[name.len()..];
            let takes_value = after.starts_with(" <") || after.starts_with("[=");
            out.push((short, name, takes_value));
        }
        out
    }

    enum Expect {
        /// Accepted; the check says the parsed flags mean what cargo-deb means.
        Same(fn(&super::DebArgs) -> bool),
        /// Refused (exit 2) with a message naming what to use instead.
        Refused(&'static str),
    }

    /// Every flag of cargo-deb 3.8's `--help`: accepted with the same meaning or refused with
    /// what to use instead. A flag cargo-deb adds makes the test fail until it is in the table.
    fn cargo_deb_table() -> Vec<(&'static str, Option<&'static str>, Expect)> {
        use Expect::*;
        vec![
            (
                "output",
                Some("out/"),
                Same(|a| a.output.as_deref() == Some(std::path::Path::new("out/"))),
            ),
            (
                "package",
                Some("app"),
                Same(|a| a.common.workspace.package == ["app"]),
            ),
            (
                "manifest-path",
                Some("x/Cargo.toml"),
                Same(|a| a.common.manifest.manifest_path.is_some()),
            ),
            (
                "target",
                Some("aarch64-unknown-linux-gnu"),
                Same(|a| a.common.targets == ["aarch64-unknown-linux-gnu"]),
            ),
            (
                "multiarch",
                Some("same"),
                Same(|a| a.multiarch.as_deref() == Some("same")),
            ),
            (
                "profile",
                Some("dist"),
                Same(|a| a.common.profile.as_deref() == Some("dist")),
            ),
            ("install", None, Same(|a| a.install)),
            ("no-install-dbgsym", None, Same(|a| a.no_install_dbgsym)),
            ("quiet", None, Same(|a| a.common.output.quiet)),
            ("verbose", None, Same(|a| a.common.output.verbose == 1)),
            (
                "color",
                Some("never"),
                Same(|a| matches!(a.common.output.color, forge_core::shell::ColorChoice::Never)),
            ),
            ("help", None, Same(|_| true)),
            ("version", None, Same(|_| true)),
            (
                "dbgsym",
                None,
                Same(|a| a.apply_overrides(Default::default()).dbgsym == Some(true)),
            ),
            (
                "no-dbgsym",
                None,
                Same(|a| a.apply_overrides(Default::default()).dbgsym == Some(false)),
            ),
            ("strip", None, Same(|a| a.strip && !a.no_strip)),
            ("no-strip", None, Same(|a| a.no_strip)),
            (
                "separate-debug-symbols",
                None,
                Same(|a| {
                    a.apply_overrides(Default::default()).separate_debug_symbols == Some(true)
                }),
            ),
            (
                "no-separate-debug-symbols",
                None,
                Same(|a| {
                    a.apply_overrides(Default::default()).separate_debug_symbols == Some(false)
                }),
            ),
            (
                "compress-debug-symbols",
                Some("zstd"),
                Same(|a| a.compress_debug_symbols.as_deref() == Some("zstd")),
            ),
            (
                "no-compress-debug-symbols",
                None,
                Same(|a| {
                    a.apply_overrides(Default::default()).compress_debug_symbols == Some(false)
                }),
            ),
            (
                "variant",
                Some("mini"),
                Same(|a| a.variant.as_deref() == Some("mini")),
            ),
            (
                "deb-version",
                Some("1.2.3-4"),
                Same(|a| a.deb_version.as_deref() == Some("1.2.3-4")),
            ),
            (
                "deb-revision",
                Some("2"),
                Same(|a| a.deb_revision.as_deref() == Some("2")),
            ),
            (
                "maintainer",
                Some("A <a@b.c>"),
                Same(|a| {
                    a.apply_overrides(Default::default()).maintainer.as_deref() == Some("A <a@b.c>")
                }),
            ),
            (
                "section",
                Some("net"),
                Same(|a| a.apply_overrides(Default::default()).section.as_deref() == Some("net")),
            ),
            ("no-build", None, Same(|a| a.common.no_build)),
            (
                "cargo-build",
                Some("zigbuild"),
                Same(|a| {
                    matches!(
                        a.common.backend,
                        Some(forge_core::cli::BackendChoice::Zigbuild)
                    )
                }),
            ),
            (
                "override-debug",
                Some("full"),
                Refused("CARGO_PROFILE_RELEASE_DEBUG=full"),
            ),
            (
                "override-lto",
                Some("fat"),
                Refused("CARGO_PROFILE_RELEASE_LTO=fat"),
            ),
            ("fast", None, Same(|a| a.fast)),
            (
                "compress-type",
                Some("gz"),
                Same(|a| a.compress == Some(crate::writer::Compression::Gzip)),
            ),
            ("compress-system", None, Same(|a| a.compress_system)),
            ("rsyncable", None, Refused("--compress none")),
            (
                "features",
                Some("tls"),
                Same(|a| a.common.features.features == ["tls"]),
            ),
            (
                "no-default-features",
                None,
                Same(|a| a.common.features.no_default_features),
            ),
            (
                "all-features",
                None,
                Same(|a| a.common.features.all_features),
            ),
            ("offline", None, Same(|a| a.common.offline)),
            ("locked", None, Same(|a| a.common.locked)),
            ("frozen", None, Same(|a| a.common.frozen)),
        ]
    }

    fn parse(args: &[&str]) -> Result<super::DebArgs, clap::Error> {
        let argv = ["cargo", "forge-deb"].iter().chain(args);
        super::Cargo::try_parse_from(argv).map(|super::Cargo::ForgeDeb(c)| c.args)
    }

    #[test]
    fn every_cargo_deb_flag_is_accepted_or_refused_with_a_replacement() {
        let flags = help_flags(CARGO_DEB_HELP);
        assert!(flags.len() >= 40, "{flags:?}");
        let table = cargo_deb_table();
        for (short, long, takes_value) in &flags {
            let (_, value, expect) = table
                .iter()
                .find(|(f, _, _)| f == long)
                .unwrap_or_else(|| panic!("cargo-deb's `--{long}` is not in the flag table"));
            assert_eq!(
                value.is_some(),
                *takes_value || long == "compress-debug-symbols",
                "--{long}"
            );
            let mut spellings = vec![format!("--{long}")];
            if let Some(c) = short {
                spellings.push(format!("-{c}"));
            }
            for flag in spellings {
                if long == "help" || long == "version" {
                    let e = parse(&[&flag]).unwrap_err();
                    assert!(
                        matches!(
                            e.kind(),
                            clap::error::ErrorKind::DisplayHelp
                                | clap::error::ErrorKind::DisplayVersion
                        ),
                        "{flag}"
                    );
                    continue;
                }
                let argv: Vec<String> = match value {
                    Some(v) if flag.starts_with("--") && long == "compress-debug-symbols" => {
                        vec![format!("{flag}={v}")]
                    }
                    Some(v) => vec![flag.clone(), v.to_string()],
                    None => vec![flag.clone()],
                };
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                let mut args = parse(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
                let resolved = args.resolve_cargo_deb_flags();
                match expect {
                    Expect::Same(check) => {
                        resolved.unwrap_or_else(|e| panic!("{argv:?}: {e}"));
                        assert!(
                            check(&args),
                            "{argv:?} does not mean what it means to cargo-deb: {args:?}"
                        );
                    }
                    Expect::Refused(instead) => {
                        let e = resolved.expect_err(&flag);
                        assert_eq!(forge_core::exit::code_of(&e), 2, "{flag}");
                        let msg = e.to_string();
                        assert!(
                            msg.contains(instead) && !msg.contains('\n'),
                            "{flag}: {msg}"
                        );
                    }
                }
            }
        }
        // Bare `--compress-debug-symbols` is zlib; `--` cargo arguments are refused.
        assert_eq!(
            parse(&["--compress-debug-symbols"])
                .unwrap()
                .compress_debug_symbols
                .as_deref(),
            Some("zlib")
        );
        let mut a = parse(&["--", "--jobs", "2"]).unwrap();
        assert!(a
            .resolve_cargo_deb_flags()
            .unwrap_err()
            .to_string()
            .contains("--features"));
    }

    /// Every example of every `--help` parses and runs the command it is shown under.
    #[test]
    fn help_examples_parse() {
        let n = forge_core::help::check_examples(super::Cargo::command());
        assert!(n >= 9, "{n} examples");
    }

    /// The shared vocabulary: `--sign-key ID` (the old `--sign --key ID` and a bare `--key ID`
    /// still accepted), `--sign` for gpg's default key, `-o`/`--out`/`--output` one flag.
    #[test]
    fn sign_key_and_out_spellings() {
        use crate::ops::DebRequest;
        let project_free =
            |a: &super::DebArgs| (a.sign || a.sign_key.is_some(), a.sign_key.clone());
        for argv in [
            &["--sign-key", "0xA1"][..],
            &["--sign", "--key", "0xA1"],
            &["--key", "0xA1"],
            &["--sign", "--sign-key", "0xA1"],
        ] {
            let a = parse(argv).unwrap();
            assert_eq!(project_free(&a), (true, Some("0xA1".into())), "{argv:?}");
        }
        let a = parse(&["--sign"]).unwrap();
        assert_eq!(project_free(&a), (true, None));
        assert_eq!(project_free(&parse(&[]).unwrap()), (false, None));
        for argv in [&["-o", "d/"][..], &["--out", "d/"], &["--output", "d/"]] {
            let a = parse(argv).unwrap();
            assert_eq!(
                a.output.as_deref(),
                Some(std::path::Path::new("d/")),
                "{argv:?}"
            );
        }
        // `--key` is hidden: the help shows `--sign-key` only.
        let mut cmd = super::Cargo::command();
        let help = cmd
            .find_subcommand_mut("forge-deb")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("--sign-key <KEYID>") && !help.contains("aliases: --key"),
            "{help}"
        );
        // The request carries what the flags mean.
        let r = DebRequest {
            sign: true,
            sign_key: Some("0xA1".into()),
            ..Default::default()
        };
        assert!(r.sign && r.sign_key.is_some());
    }

    /// `--maintainer` and `--section` override the `[package.metadata.deb]` keys.
    #[test]
    fn maintainer_and_section_override_the_manifest() {
        let a = parse(&["--maintainer", "A <a@b.c>", "--section", "net"]).unwrap();
        let meta = crate::manifest::DebMetadata {
            maintainer: Some("B <b@c.d>".into()),
            section: Some("utils".into()),
            ..Default::default()
        };
        let meta = a.apply_overrides(meta);
        assert_eq!(meta.maintainer.as_deref(), Some("A <a@b.c>"));
        assert_eq!(meta.section.as_deref(), Some("net"));
        let meta = parse(&[])
            .unwrap()
            .apply_overrides(crate::manifest::DebMetadata {
                section: Some("utils".into()),
                ..Default::default()
            });
        assert_eq!(meta.section.as_deref(), Some("utils"));
    }
}

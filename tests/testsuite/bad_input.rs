//! The bad-input corpus: one table of wrong metadata, flags, references and environment for the
//! three commands. Each case must stop with exit code 2, one `error:` that names what is wrong,
//! no panic, and nothing produced.

use std::process::Command;

use forge_tests::*;

/// Where the bad input goes.
enum Input<'a> {
    /// Inserted right after `[package.metadata.deb]` in the cli-tool fixture's Cargo.toml.
    Toml(&'a str),
    /// Replaces the first string with the second in Cargo.toml.
    Replace(&'a str, &'a str),
    /// Only flags / environment.
    None,
}

struct Case<'a> {
    bin: &'a str,
    input: Input<'a>,
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    words: &'a [&'a str],
}

const fn c<'a>(
    bin: &'a str,
    input: Input<'a>,
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    words: &'a [&'a str],
) -> Case<'a> {
    Case {
        bin,
        input,
        args,
        env,
        words,
    }
}

const DEB: &str = "forge-deb";
const IMAGE: &str = "forge-image";
const RELEASE: &str = "forge-release";

const CASES: &[Case<'static>] = &[
    // cargo forge-deb: [package.metadata.deb] of the wrong type, unknown keys, bad assets.
    c(DEB, Input::Replace("priority = \"optional\"", "priority = 1"), &[], &[], &["package.metadata.deb.priority", "Cargo.toml"]),
    c(DEB, Input::Toml("revision = 5"), &[], &[], &["package.metadata.deb.revision"]),
    c(DEB, Input::Toml("depends = 3"), &[], &[], &["package.metadata.deb.depends"]),
    c(DEB, Input::Toml("preserve-symlinks = \"yes\""), &[], &[], &["preserve-symlinks"]),
    c(DEB, Input::Toml("variants = 3"), &[], &[], &["variants"]),
    c(DEB, Input::Replace("systemd-units = { unit-name = \"forge-fixture-cli\", enable = false }", "systemd-units = 5"), &[], &[], &["systemd-units"]),
    c(DEB, Input::Toml("merge-assets = { sideways = [] }"), &[], &[], &["merge-assets", "sideways"]),
    c(DEB, Input::Toml("extended-descripton = \"typo\""), &[], &[], &["unknown field `extended-descripton`"]),
    c(DEB, Input::Replace("[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]", "[\"README.md\", \"/etc/../../x\", \"644\"]"), &[], &[], &["escapes", "Cargo.toml"]),
    c(DEB, Input::Replace("[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]", "[\"/nonexistent/file\", \"usr/share/x\", \"644\"]"), &[], &[], &["does not exist", "assets[1]"]),
    c(DEB, Input::Replace("[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]", "[\"target/debug/forge-fixture-cli\", \"usr/bin/\", \"755\"]"), &[], &[], &["target/debug"]),
    c(DEB, Input::Replace("[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]", "[\"README.md\"]"), &[], &[], &["assets[1]", "1 elements"]),
    c(DEB, Input::Replace("[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]", "[\"README.md\", \"usr/share/x\", \"644\", \"extra\"]"), &[], &[], &["assets[1]", "4 elements"]),
    c(DEB, Input::Replace("[\"README.md\", \"usr/share/doc/forge-fixture-cli/README\", \"644\"]", "\"README.md\""), &[], &[], &["assets[1]", "README.md"]),
    c(DEB, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.deb]\ncompress = \"lz4\"\n\n[package.metadata.deb]"), &[], &[], &["compress", "lz4"]),
    c(DEB, Input::Replace("[package.metadata.deb]", "[package.metadata.forge]\ntargets = [\"x86_64-pc-windows-msvc\"]\n\n[package.metadata.deb]"), &[], &[], &["unsupported target `x86_64-pc-windows-msvc`"]),
    c(DEB, Input::Replace("[package.metadata.deb]", "[package.metadata.forge]\nbackend = \"docker\"\n\n[package.metadata.deb]"), &[], &[], &["package.metadata.forge.backend", "docker"]),
    // Beyond cargo-deb: metadata that can only make a broken package (issue 12).
    c(DEB, Input::Toml("depends = \"libc6 (>= )\""), &[], &[], &["invalid `depends`", "package.metadata.deb", "Cargo.toml"]),
    c(DEB, Input::Toml("recommends = [\"Git\"]"), &[], &[], &["invalid `recommends`", "`Git`"]),
    c(DEB, Input::Replace("systemd-units = { unit-name = \"forge-fixture-cli\", enable = false }", "systemd-units = { unit-scripts = \"conf/\" }"), &[], &[], &["`systemd-units`", "finds no unit", "unit-scripts = \"debian/\""]),
    c(DEB, Input::Replace("conf-files = [\"/etc/forge-fixture-cli/config.toml\"]", "conf-files = [\"/etc/forge-fixture-cli/nope.toml\"]"), &[], &[], &["`conf-files`", "/etc/forge-fixture-cli/nope.toml", "does not ship"]),
    c(DEB, Input::Replace("maintainer-scripts = \"debian/\"", "maintainer-scripts = \"scripts/\""), &[], &[], &["`maintainer-scripts`", "scripts/", "does not exist"]),
    c(DEB, Input::None, &["--override-lto", "fat"], &[], &["CARGO_PROFILE_RELEASE_LTO=fat"]),
    c(DEB, Input::None, &["--rsyncable"], &[], &["--rsyncable", "--compress none"]),
    c(DEB, Input::None, &["--", "--jobs", "2"], &[], &["after `--`", "--features"]),
    c(DEB, Input::None, &["--cargo-build", "auditable"], &[], &["--backend"]),
    c(DEB, Input::None, &["--compress", "lz4"], &[], &["lz4"]),
    c(DEB, Input::None, &["--deb-version", "1.0 beta"], &[], &["not a valid Debian version"]),
    c(DEB, Input::None, &["--multiarch", "both"], &[], &["both"]),
    c(DEB, Input::None, &["--manifest-path", "/nonexistent/Cargo.toml"], &[], &["/nonexistent/Cargo.toml"]),
    c(DEB, Input::None, &["--target", "aarch64-linux-android"], &[], &["Android"]),
    c(DEB, Input::None, &[], &[("FORGE_RETRIES", "many")], &["FORGE_RETRIES"]),
    c(DEB, Input::None, &[], &[("SOURCE_DATE_EPOCH", "yesterday")], &["SOURCE_DATE_EPOCH"]),
    // cargo forge-image: references, platforms, outputs, the image table.
    c(IMAGE, Input::None, &["--tag", "UPPER/Case:1", "--push"], &[], &["invalid image reference"]),
    c(IMAGE, Input::None, &["--tag", "127.0.0.1:5000/app", "--push"], &[], &["has no tag"]),
    c(IMAGE, Input::None, &["--platform", "windows/amd64"], &[], &["unknown platform `windows/amd64`"]),
    c(IMAGE, Input::None, &["--output", "oci:"], &[], &["oci:DIR"]),
    c(IMAGE, Input::None, &["--format", "rkt"], &[], &["rkt"]),
    c(IMAGE, Input::None, &["--push-by-digest"], &[], &["--digest-file"]),
    c(IMAGE, Input::None, &["--platform", "linux/amd64,linux/arm64", "--push-by-digest", "--digest-file", "d.json", "--repository", "127.0.0.1:1/x"], &[], &["one platform per run"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nuser = 5\n\n[package.metadata.deb]"), &[], &[], &["package.metadata.forge.image.user"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nhealthcheck = { test = [\"CMD\", \"x\"], interval = \"soon\" }\n\n[package.metadata.deb]"), &[], &[], &["invalid duration `soon`"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nhealthcheck = { test = [\"RUN\", \"x\"] }\n\n[package.metadata.deb]"), &[], &[], &["CMD"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nports = [\"8080\", \"http\"]\n\n[package.metadata.deb]"), &[], &[], &["`ports[1]`", "package.metadata.forge.image", "not a port"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nuser = \"app:staff:x\"\n\n[package.metadata.deb]"), &[], &[], &["`user`", "user:group"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nenv = { \"A=B\" = \"x\" }\n\n[package.metadata.deb]"), &[], &[], &["`env.A=B`"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nentrypoint = [\"/usr/bin/forge-fixture-cli\"]\n\n[package.metadata.deb]"), &[], &[], &["`entrypoint`", "not in the image's layers", "/usr/local/bin/forge-fixture-cli"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nhealthcheck = { test = [\"CMD\"] }\n\n[package.metadata.deb]"), &[], &[], &["`healthcheck.test`"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nformat = \"rkt\"\n\n[package.metadata.deb]"), &[], &[], &["format", "rkt"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nbinaries = [\"nope\"]\n\n[package.metadata.deb]"), &[], &[], &["binaries", "nope"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nassets = [[\"missing.txt\", \"x\"]]\n\n[package.metadata.deb]"), &[], &[], &["missing.txt", "does not exist"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nrepository = \"127.0.0.1:1/x\"\ntags = [\"bad tag\"]\n\n[package.metadata.deb]"), &["--push"], &[], &["invalid tag `bad tag`"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nbase = \"not a ref!!\"\n\n[package.metadata.deb]"), &[], &[], &["invalid image reference"]),
    c(IMAGE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.image]\nplatforms = \"linux/amd64\"\n\n[package.metadata.deb]"), &[], &[], &["package.metadata.forge.image.platforms"]),
    // cargo forge-release: versions and the release table (the tree is not a git repository
    // here, which is reported too: every problem is listed at once).
    c(RELEASE, Input::None, &["v1", "--yes"], &[], &["invalid version `v1`"]),
    c(RELEASE, Input::None, &["1.2.3-", "--yes"], &[], &["invalid version `1.2.3-`"]),
    c(RELEASE, Input::None, &["0.1.0", "--yes"], &[], &["not a git repository", "--no-tag"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\narchive-format = \"rar\"\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[], &["archive-format", "rar"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\nartifacts = [\"msi\"]\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[], &["unknown artifact `msi`"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\ntag-format = \"release\"\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[], &["tag-format"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\nhosts = [{ kind = \"s3\" }]\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[], &["bucket"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\ntargets = [\"x86_64-pc-windows-msvc\"]\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[], &["unsupported target `x86_64-pc-windows-msvc`"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\nsign = { minisign = \"missing.key\" }\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[], &["minisign key `missing.key`"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\nhosts = [{ kind = \"github\", repo = \"acme/cli\" }]\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[("GITHUB_TOKEN", ""), ("GH_TOKEN", "")], &["GITHUB_TOKEN", "GH_TOKEN"]),
    c(RELEASE, Input::Replace("[package.metadata.deb]", "[package.metadata.forge.release]\nhosts = [{ kind = \"oci\", repository = \"127.0.0.1:1/x\" }]\n\n[package.metadata.deb]"), &["0.1.0", "--yes", "--no-tag"], &[], &["needs the image"]),
];

#[test]
fn bad_input_corpus() {
    assert!(CASES.len() >= 40, "the corpus has {} cases", CASES.len());
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let fx = Fixture::copy("cli-tool");
        match case.input {
            Input::Toml(line) => fx.edit_manifest(
                "[package.metadata.deb]",
                &format!("[package.metadata.deb]\n{line}"),
            ),
            Input::Replace(from, to) => fx.edit_manifest(from, to),
            Input::None => {}
        }
        let mut cmd = Command::new(bin(&format!("cargo-{}", case.bin)));
        cmd.arg(case.bin)
            .args(case.args)
            .current_dir(fx.path())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        for (k, v) in case.env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        let err = stderr(&out);
        let what = format!("case {i} ({} {:?})", case.bin, case.args);
        if out.status.code() != Some(2) {
            failures.push(format!(
                "{what}: exit {:?}, expected 2\n{err}",
                out.status.code()
            ));
            continue;
        }
        // One error of ours (a tool's own `error:` lines may follow, indented, under "Caused by").
        if err.contains("panicked") || err.lines().filter(|l| l.starts_with("error:")).count() != 1
        {
            failures.push(format!("{what}: not one clean error\n{err}"));
            continue;
        }
        for w in case.words {
            if !err.contains(w) {
                failures.push(format!("{what}: the error does not mention `{w}`\n{err}"));
            }
        }
        let produced = ["target/debian", "target/forge/release", "target/release"]
            .iter()
            .any(|d| fx.path().join(d).exists());
        if produced {
            failures.push(format!("{what}: left output behind"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

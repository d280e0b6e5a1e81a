//! The jobs of the workflow, one function each, in the order they run: `forge` (cargo-forge
//! once per architecture), `plan`, `build` (per target, with the `push-image` step), `publish`
//! (the approval gate) and `merge` (the image index and its tags, last).

use super::*;

pub(super) fn forge_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  forge:");
    lines(
        out,
        4,
        "name: cargo-forge ${{ matrix.arch }}
runs-on: ${{ matrix.runner }}
timeout-minutes: 60
# nothing to read from this repository; cargo-forge's repository is public
permissions: {}
strategy:
  matrix:
    include:",
    );
    for arch in &m.arches {
        let _ = writeln!(out, "          - arch: {}", q(arch));
        let _ = writeln!(out, "            runner: {}", q(runner(m.provider, arch)));
    }
    lines(out, 4, "steps:");
    look_for_forge(out);
    lines(
        out,
        6,
        &format!(
            r#"- name: check rust
  id: rust
  if: steps.forge.outputs.path == ''
  env:
    MIN_RUST: {}
  run: |
    have=$(rustc --version 2>/dev/null | cut -d' ' -f2) || true
    have=${{have%%-*}}
    if [ -n "$have" ] && cargo --version >/dev/null 2>&1 && [ "$(printf '%s\n' "$MIN_RUST" "$have" | sort -V | head -n1)" = "$MIN_RUST" ]; then
      echo "rustc $have builds cargo-forge (it needs $MIN_RUST)"
    else
      echo "install=true" >> "$GITHUB_OUTPUT"
    fi
- name: install rust
  if: steps.rust.outputs.install == 'true'
  run: |"#,
            q(FORGE_MIN_RUST)
        ),
    );
    lines(out, 10, INSTALL_RUSTUP);
    lines(
        out,
        10,
        r#"rustup toolchain install stable --profile minimal
echo "RUSTUP_TOOLCHAIN=stable" >> "$GITHUB_ENV""#,
    );
    lines(
        out,
        6,
        &format!(
            r#"- name: build cargo-forge
  if: steps.forge.outputs.path == ''
  env:
    FORGE_GIT: {}
  run: cargo install --locked --git "$FORGE_GIT" --tag "v$FORGE_VERSION" --root "$RUNNER_TEMP/cargo-forge" cargo-forge-release
- name: hand cargo-forge to the other jobs
  uses: {UPLOAD_ARTIFACT}
  with:
    name: cargo-forge-${{{{ matrix.arch }}}}
    # the runner's own, or the one just built
    path: ${{{{ steps.forge.outputs.path || format('{{0}}/cargo-forge/bin/cargo-forge-release', runner.temp) }}}}
    if-no-files-found: error
    retention-days: 1"#,
            q(FORGE_GIT)
        ),
    );
}

pub(super) fn plan_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  plan:");
    lines(
        out,
        4,
        &format!(
            "name: plan
needs: forge
runs-on: {}
timeout-minutes: 30
permissions:
  contents: read # check out the repository
steps:",
            m.runner()
        ),
    );
    checkout(out, true);
    lines(
        out,
        6,
        "- name: check the tag
  id: tag
  env:",
    );
    let _ = writeln!(out, "          TAG_PREFIX: {}", q(&m.tag_prefix));
    let _ = writeln!(out, "          TAG_SUFFIX: {}", q(&m.tag_suffix));
    let _ = writeln!(
        out,
        "          RELEASE_BRANCHES: {}",
        q(&m.branches.join(" "))
    );
    lines(
        out,
        6,
        r#"  run: |
    version=${RELEASE_TAG#"$TAG_PREFIX"}
    version=${version%"$TAG_SUFFIX"}
    id='(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)'
    semver="^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-$id(\.$id)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?\$"
    if [ "$TAG_PREFIX$version$TAG_SUFFIX" != "$RELEASE_TAG" ] || ! [[ $version =~ $semver ]]; then
      echo "::error::$RELEASE_TAG is not a release tag: expected ${TAG_PREFIX}MAJOR.MINOR.PATCH${TAG_SUFFIX} (semver, no leading zeros)"
      exit 1
    fi
    commit=$(git rev-parse HEAD)
    read -ra branches <<< "$RELEASE_BRANCHES"
    refs=()
    for branch in "${branches[@]}"; do
      refs+=("refs/remotes/origin/$branch")
    done
    found=$(git for-each-ref --contains "$commit" --format='%(refname:lstrip=3)' "${refs[@]}")
    if [ -z "$found" ]; then
      echo "::error::$RELEASE_TAG ($commit) is not on a release branch ($RELEASE_BRANCHES)"
      exit 1
    fi
    echo "version=$version" >> "$GITHUB_OUTPUT""#,
    );
    fetch_forge(out, "amd64");
    rust_steps(out, m, "''");
    lines(
        out,
        6,
        &format!(
            "- name: plan
  # reads no secret: there are none in this job
  env:
    VERSION: ${{{{ steps.tag.outputs.version }}}}
  run: cargo-forge-release forge-release plan \"$VERSION\" --package \"$PACKAGE\" --out {PLAN_DIR}
- name: keep the plan
  uses: {UPLOAD_ARTIFACT}
  with:
    name: plan
    path: ${{{{ env.PLAN }}}}
    if-no-files-found: error"
        ),
    );
}

pub(super) fn build_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  build:");
    lines(
        out,
        4,
        "name: build ${{ matrix.target }}
needs: [forge, plan]
runs-on: ${{ matrix.runner }}
timeout-minutes: 120
permissions:
  contents: read # check out the repository",
    );
    if m.image && m.ghcr() {
        lines(
            out,
            4,
            "  packages: write # the push-image step pushes this platform's image to ghcr.io, by digest",
        );
    }
    lines(
        out,
        4,
        "strategy:
  # every target's result is shown; publish needs all of them anyway
  fail-fast: false
  matrix:
    include:",
    );
    let cross = m.cross();
    for r in &m.rows {
        let _ = writeln!(out, "          - target: {}", q(&r.target));
        let _ = writeln!(out, "            runner: {}", q(runner(m.provider, r.arch)));
        let _ = writeln!(out, "            arch: {}", q(r.arch));
        if cross {
            let (gcc, packages) = r.cross.clone().unwrap_or_default();
            let _ = writeln!(out, "            cross-gcc: {}", q(&gcc));
            let _ = writeln!(out, "            cross-packages: {}", q(&packages));
        }
    }
    lines(
        out,
        4,
        "env:
  TARGET: ${{ matrix.target }}
steps:",
    );
    checkout(out, false);
    fetch_forge(out, "${{ matrix.arch }}");
    rust_steps(out, m, "${{ matrix.target }}");
    if cross {
        let sudo = if m.github() { "sudo " } else { "" };
        lines(
            out,
            6,
            &format!(
                "- name: install the cross linker
  if: matrix.cross-gcc != ''
  env:
    CROSS_GCC: ${{{{ matrix.cross-gcc }}}}
    CROSS_PACKAGES: ${{{{ matrix.cross-packages }}}}
  run: |
    if command -v \"$CROSS_GCC\" >/dev/null; then
      echo \"the runner has $CROSS_GCC\"
      exit 0
    fi
    read -ra packages <<< \"$CROSS_PACKAGES\"
    {sudo}apt-get update
    {sudo}apt-get install -y --no-install-recommends \"${{packages[@]}}\""
            ),
        );
    }
    fetch_plan(out);
    lines(
        out,
        6,
        &format!(
            "- name: build
  # no secret reaches cargo or a build script: this job's environment holds none
  run: cargo-forge-release forge-release build --plan \"$PLAN\" --target \"$TARGET\" --out {BUILD_DIR}
- name: keep the artifacts
  uses: {UPLOAD_ARTIFACT}
  with:
    name: build-${{{{ matrix.target }}}}"
        ),
    );
    if m.image {
        // publish needs the files, not the platform image's OCI layout (push-image pushes it)
        lines(
            out,
            10,
            &format!(
                "# the image layouts stay here: push-image pushes them, publish does not read them
path: |
  {BUILD_DIR}
  !{BUILD_DIR}/*/*/image-*"
            ),
        );
    } else {
        lines(out, 10, &format!("path: {BUILD_DIR}"));
    }
    lines(out, 10, "if-no-files-found: error");
    if m.image {
        lines(
            out,
            6,
            "- name: push the image by digest
  id: push-image
  # the only step with the registry's credentials; it runs no cargo and no build",
        );
        env_block(out, 8, &registry_env(m));
        lines(
            out,
            6,
            &format!(
                "  run: cargo-forge-release forge-release push-image --plan \"$PLAN\" --artifacts {BUILD_DIR} --digests {DIGESTS_DIR}
- name: keep the image digests
  uses: {UPLOAD_ARTIFACT}
  with:
    name: digests-${{{{ matrix.target }}}}
    path: {DIGESTS_DIR}
    if-no-files-found: error"
            ),
        );
    }
}

pub(super) fn publish_job(out: &mut String, m: &Model) {
    let gh = m.github();
    let _ = writeln!(out, "  publish:");
    lines(
        out,
        4,
        &format!(
            "name: publish
needs: [forge, plan, build]
runs-on: {}
timeout-minutes: 60",
            m.runner()
        ),
    );
    if gh {
        lines(
            out,
            4,
            "# The approval gate: protect the `release` environment with required reviewers; its
# secrets are readable by this job only, once approved.
environment: release",
        );
    } else {
        lines(
            out,
            4,
            "# The approval gate: Forgejo has no protected environments, so publishing happens only in a
# run a maintainer starts by hand (Actions > release > Run workflow, with the tag).
if: github.event_name == 'workflow_dispatch'",
        );
    }
    publishing_concurrency(out, m);
    lines(out, 4, "permissions:");
    let release_host = (gh && m.has_host("github")) || (!gh && m.has_host("gitea"));
    if release_host {
        lines(
            out,
            6,
            "contents: write # create the release and upload its assets",
        );
    } else {
        lines(out, 6, "contents: read # check out the repository");
    }
    lines(out, 4, "steps:");
    checkout(out, false);
    fetch_forge(out, "amd64");
    // every phase reads the checkout's workspace (`cargo metadata`) to check the plan against it
    rust_steps(out, m, "''");
    fetch_plan(out);
    lines(
        out,
        6,
        &format!(
            "- name: fetch every runner's artifacts
  uses: {DOWNLOAD_ARTIFACT}
  with:
    pattern: build-*
    path: {ARTIFACTS_DIR}"
        ),
    );
    if m.inputs.gpg {
        lines(
            out,
            6,
            r#"- name: import the gpg signing key
  env:
    GPG_PRIVATE_KEY: ${{ secrets.GPG_PRIVATE_KEY }}
    GPG_PASSPHRASE: ${{ secrets.GPG_PASSPHRASE }}
  run: |
    if [ -z "$GPG_PRIVATE_KEY" ]; then
      echo "::error::the secret GPG_PRIVATE_KEY is empty: add the armoured secret key that signs the release"
      exit 1
    fi
    export GNUPGHOME="$RUNNER_TEMP/gnupg"
    install -d -m 700 "$GNUPGHOME"
    printf '%s\n' "$GPG_PRIVATE_KEY" | gpg --batch --import
    if [ -n "$GPG_PASSPHRASE" ]; then
      (umask 077 && printf '%s\n' "$GPG_PASSPHRASE" > "$GNUPGHOME/passphrase")
      printf '%s\n' 'pinentry-mode loopback' "passphrase-file $GNUPGHOME/passphrase" >> "$GNUPGHOME/gpg.conf"
    fi
    echo "GNUPGHOME=$GNUPGHOME" >> "$GITHUB_ENV""#,
        );
    }
    if let Some(key) = &m.inputs.minisign_key {
        lines(out, 6, "- name: write the minisign key\n  env:");
        let _ = writeln!(out, "          MINISIGN_KEY_FILE: {}", q(key));
        lines(
            out,
            6,
            r#"    MINISIGN_KEY: ${{ secrets.MINISIGN_KEY }}
  run: |
    if [ -z "$MINISIGN_KEY" ]; then
      echo "::error::the secret MINISIGN_KEY is empty: add the text of the minisign secret key file"
      exit 1
    fi
    mkdir -p "$(dirname "$MINISIGN_KEY_FILE")"
    (umask 077 && printf '%s\n' "$MINISIGN_KEY" > "$MINISIGN_KEY_FILE")"#,
        );
    }
    lines(out, 6, "- name: publish");
    let mut env = Vec::new();
    if m.has_host("github") {
        env.push(if gh {
            "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}".to_string()
        } else {
            "GITHUB_TOKEN: ${{ secrets.GH_TOKEN }}".to_string()
        });
    }
    if m.has_host("gitea") {
        env.push(if gh {
            "GITEA_TOKEN: ${{ secrets.GITEA_TOKEN }}".to_string()
        } else {
            "GITEA_TOKEN: ${{ secrets.FORGEJO_TOKEN }}".to_string()
        });
    }
    if m.inputs.s3_credentials {
        env.push("AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}".to_string());
        env.push("AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}".to_string());
    }
    if m.inputs.minisign_key.is_some() {
        env.push("MINISIGN_PASSWORD: ${{ secrets.MINISIGN_PASSWORD }}".to_string());
    }
    env_block(out, 8, &env);
    lines(
        out,
        8,
        &format!(
            "# --no-tag: the tag is already pushed, it is what started this run; the image is
# tagged by `merge`, after this job
run: cargo-forge-release forge-release publish --plan \"$PLAN\" --artifacts {ARTIFACTS_DIR} --yes --no-tag"
        ),
    );
}

pub(super) fn merge_job(out: &mut String, m: &Model) {
    let _ = writeln!(out, "  merge:");
    lines(
        out,
        4,
        &format!(
            "name: merge the image
# after publish: the index is tagged (and `latest` moved) only once the release is approved
needs: [forge, plan, publish]
runs-on: {}
timeout-minutes: 30",
            m.runner()
        ),
    );
    publishing_concurrency(out, m);
    if m.ghcr() {
        lines(
            out,
            4,
            "permissions:
  contents: read # check out the repository
  packages: write # push the index and its tags to ghcr.io",
        );
    } else {
        lines(
            out,
            4,
            "permissions:
  contents: read # check out the repository (the registry's own credentials push the index)",
        );
    }
    lines(out, 4, "steps:");
    // the plan is checked against the checkout (its commit, its workspace)
    checkout(out, false);
    fetch_forge(out, "amd64");
    rust_steps(out, m, "''");
    fetch_plan(out);
    lines(
        out,
        6,
        &format!(
            "- name: fetch the platform digests
  uses: {DOWNLOAD_ARTIFACT}
  with:
    pattern: digests-*
    merge-multiple: true
    path: {DIGESTS_DIR}
- name: tag the multi-platform image"
        ),
    );
    env_block(out, 8, &registry_env(m));
    lines(
        out,
        8,
        &format!(
            "run: cargo-forge-release forge-release merge --plan \"$PLAN\" --digests {DIGESTS_DIR}"
        ),
    );
}

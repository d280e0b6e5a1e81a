//! Unit tests of `forge_core::process`, apart so that the module reads in one sitting.

use super::*;

#[test]
fn display_quotes() {
    let c = Cmd::new("echo").arg("a b").arg("c");
    assert_eq!(c.display(), "echo 'a b' c");
}

#[test]
fn read_and_failure() {
    let shell = Shell::plain();
    assert_eq!(
        Cmd::new("sh").args(["-c", "echo hi"]).read(&shell).unwrap(),
        "hi"
    );
    let err = Cmd::new("sh")
        .args(["-c", "echo boom >&2; exit 3"])
        .read(&shell)
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("failed with exit status: 3"), "{msg}");
    assert!(msg.contains("boom"), "{msg}");
}

#[test]
fn missing_program_is_a_missing_tool() {
    let shell = Shell::plain();
    let err = Cmd::new("definitely-not-a-program-xyz")
        .install_hint("apt-get install xyz")
        .run(&shell)
        .unwrap_err();
    assert_eq!(crate::exit::code_of(&err), 6);
    assert!(err.to_string().contains("is not installed"));
    assert_eq!(crate::exit::hints(&err), vec!["apt-get install xyz"]);
}

#[test]
fn long_and_unterminated_lines_are_cut_and_kept() {
    let mut seen = vec![];
    let long = vec![b'x'; MAX_LINE + 10];
    let mut input = b"one\r\ntwo\n".to_vec();
    input.extend(&long);
    input.extend(b"\nlast");
    relay_lines(input.as_slice(), |l| {
        seen.push(l.to_string());
        true
    })
    .unwrap();
    assert_eq!(
        seen.len(),
        5,
        "{:?}",
        seen.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    assert_eq!((seen[0].as_str(), seen[1].as_str()), ("one", "two"));
    assert_eq!((seen[2].len(), seen[3].len()), (MAX_LINE, 10));
    assert_eq!(seen[4], "last");
}

#[test]
fn child_output_is_redacted_and_failures_keep_the_tail() {
    crate::secret::register("sentinel-child-4711");
    let shell = Shell::new(
        Verbosity::Quiet,
        crate::shell::ColorChoice::Never,
        crate::shell::MessageFormat::Human,
    );
    let err = Cmd::new("sh")
        .args([
            "-c",
            "echo out sentinel-child-4711; echo err sentinel-child-4711 >&2; exit 2",
        ])
        .run(&shell)
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("out ***") && msg.contains("err ***"), "{msg}");
    assert!(!msg.contains("sentinel-child-4711"), "{msg}");
    let err = Cmd::new("sh")
        .args(["-c", "echo data; echo oops sentinel-child-4711 >&2; exit 3"])
        .stream_stdout(&shell, |_| Ok(()))
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("oops ***") && !msg.contains("sentinel"),
        "{msg}"
    );
}

#[test]
fn the_first_error_of_the_line_handler_is_the_result() {
    let shell = Shell::plain();
    let mut calls = 0;
    let err = Cmd::new("sh")
        .args(["-c", "echo first; echo second"])
        .stream_stdout(&shell, |l| {
            calls += 1;
            anyhow::bail!("not what we expected: {l}")
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "not what we expected: first");
    assert_eq!(calls, 1);
}

#[test]
fn credentials_are_recognised() {
    for name in [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITEA_TOKEN",
        "FORGEJO_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "FORGE_REGISTRY_PASSWORD",
        "FORGE_REGISTRY_USERNAME",
        "MINISIGN_PASSWORD",
        "GPG_PASSPHRASE",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
    ] {
        assert!(is_credential(name), "{name}");
    }
    for name in [
        "PATH",
        "HOME",
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "AWS_LC_SYS_CMAKE_BUILDER",
        "AWS_LC_FIPS_SYS_NO_ASM",
        "CARGO_REGISTRIES_MY_TOKEN",
        "ACTIONS_CACHE_URL",
        "GITHUB_ACTIONS",
        "GITHUB_API_URL",
        "GNUPGHOME",
    ] {
        assert!(!is_credential(name), "{name}");
    }
}

/// The child gets none of our credential variables unless it keeps them; variables the
/// command itself sets are its own.
#[test]
fn children_run_without_credentials() {
    // This test sets variables of its own process: names no other test reads.
    std::env::set_var("GITEA_TOKEN", "sentinel-gitea-child-1");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "sentinel-aws-child-2");
    std::env::set_var("AWS_LC_SYS_NO_ASM", "1");
    let shell = Shell::plain();
    let script = "echo \"[$GITEA_TOKEN][$AWS_SECRET_ACCESS_KEY][$AWS_LC_SYS_NO_ASM]\"";
    let seen = Cmd::new("sh").args(["-c", script]).read(&shell).unwrap();
    assert_eq!(seen, "[][][1]");
    let kept = Cmd::new("sh")
        .args(["-c", script])
        .keep_credentials()
        .read(&shell)
        .unwrap();
    assert_eq!(kept, "[sentinel-gitea-child-1][sentinel-aws-child-2][1]");
    let own = Cmd::new("sh")
        .args(["-c", "echo \"[$GITEA_TOKEN]\""])
        .env("GITEA_TOKEN", "set-by-the-command")
        .read(&shell)
        .unwrap();
    assert_eq!(own, "[set-by-the-command]");
    // `run` and `stream_stdout` (relayed output) start the child another way: same rule.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seen");
    let to_file = format!("{script} > '{}'", file.display());
    Cmd::new("sh").args(["-c", &to_file]).run(&shell).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "[][][1]\n");
    let mut lines = vec![];
    Cmd::new("sh")
        .args(["-c", script])
        .stream_stdout(&shell, |l| {
            lines.push(l.to_string());
            Ok(())
        })
        .unwrap();
    assert_eq!(lines, ["[][][1]"]);
    std::env::remove_var("GITEA_TOKEN");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    std::env::remove_var("AWS_LC_SYS_NO_ASM");
}

#[test]
fn streams_merged_output_and_fails_with_its_tail() {
    let shell = Shell::plain();
    let mut seen = vec![];
    let err = Cmd::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 2"])
        .stream_output(&shell, |l| {
            seen.push(l.to_string());
            Ok(())
        })
        .unwrap_err();
    seen.sort();
    assert_eq!(seen, ["err", "out"]);
    assert!(format!("{err:#}").contains("err"), "{err:#}");
}

#[test]
fn spawned_process_is_stopped() {
    let shell = Shell::plain();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let p = Cmd::new("sh")
        .args(["-c", "echo started; exec sleep 30"])
        .spawn(&shell, &log)
        .unwrap();
    assert!(p.try_wait().unwrap().is_none());
    // The child writes its line on its own schedule: wait for it (a busy machine is slow).
    for _ in 0..200 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    p.kill().unwrap();
    assert!(p.try_wait().unwrap().is_some());
    assert!(std::fs::read_to_string(&log).unwrap().contains("started"));
}

#[test]
fn streams_lines() {
    let shell = Shell::plain();
    let mut seen = vec![];
    Cmd::new("sh")
        .args(["-c", "echo one; echo two"])
        .stream_stdout(&shell, |l| {
            seen.push(l.to_string());
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, ["one", "two"]);
}

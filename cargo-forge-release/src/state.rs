//! The state file of a release (`target/forge/release/<package>/<version>/state.json`): what
//! each host has done, whether the tag is pushed. Written atomically after every step, so a
//! killed run resumes where it stopped and never does a step twice. Keyed by package and
//! version, so releasing a second package of a workspace at the same version is a release of
//! its own.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::hosts::HostState;

/// The whole state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub version: String,
    pub tag: String,
    /// SHA-256 of `SHA256SUMS`: a re-run must publish the same files.
    pub checksums: String,
    pub hosts: BTreeMap<String, HostState>,
    pub tag_created: bool,
    pub tag_pushed: bool,
    pub completed: bool,
}

impl State {
    pub fn load(path: &Path) -> Result<Option<State>> {
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = forge_core::fsx::read(path)?;
        serde_json::from_slice(&bytes)
            .with_context(|| {
                format!(
                    "`{}` is not a release state file: delete it to start over",
                    path.display()
                )
            })
            .map(Some)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        forge_core::fsx::write_atomic(path, &json)?;
        crash_point();
        Ok(())
    }
}

/// Crash tests: with `FORGE_TEST_CRASH_AFTER=N`, the process kills itself with SIGKILL right after
/// its N-th state save — a real, unclean death between two steps, at a point the tests choose.
/// Unset (always, outside the test suite) this does nothing.
fn crash_point() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SAVES: AtomicU32 = AtomicU32::new(0);
    let Some(n) = std::env::var("FORGE_TEST_CRASH_AFTER")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return;
    };
    if SAVES.fetch_add(1, Ordering::SeqCst) + 1 == n {
        let _ = forge_core::process::Cmd::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .output_unchecked(&forge_core::shell::Shell::plain());
        // SIGKILL cannot be caught; if `kill` was missing, die as uncleanly as we can.
        std::process::abort();
    }
}

//! INTERIM (being written by the install-test helper; replace this whole file).
use std::path::PathBuf;
pub struct InstallTest {
    pub deb: PathBuf,
    pub arch: String,
    pub target: forge_core::target::TargetInfo,
    pub binaries: Vec<String>,
    pub cache_dir: PathBuf,
}
pub fn run(_t: &InstallTest, _shell: &forge_core::Shell) -> anyhow::Result<()> {
    anyhow::bail!("install test not yet available")
}

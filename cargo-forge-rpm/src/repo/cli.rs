//! The flags of `cargo forge-rpm repo` (the command embeds [`RepoArgs`]), shaped as
//! `cargo forge-deb repo`'s so the two repository commands read alike.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::RepoOptions;

/// Examples shown after `cargo forge-rpm repo --help`.
pub const REPO_EXAMPLES: &str = "Examples:
  # Add packages to a signed repository in public/rpm
  cargo forge-rpm repo --dir public/rpm --sign-key 0xA1B2C3D4 target/generate-rpm/*.rpm
  # The .repo file names the URL the directory is served from
  cargo forge-rpm repo --dir public/rpm --sign-key 0xA1B2C3D4 --base-url https://example.com/rpm app-1.2.3-1.x86_64.rpm
  # Keep the three newest versions of each package
  cargo forge-rpm repo --dir public/rpm --keep 3 --sign-key 0xA1B2C3D4 target/generate-rpm/*.rpm";

/// `cargo forge-rpm repo`.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The repository directory (created if missing)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Sign repomd.xml (repomd.xml.asc) with this gpg key, and export the key as RPM-GPG-KEY-ID
    #[arg(long, value_name = "KEYID")]
    pub sign_key: Option<String>,
    /// The repository id in the .repo file and the key file's name (default: the directory's name)
    #[arg(long, value_name = "ID")]
    pub repo_id: Option<String>,
    /// The URL the repository is served from, for the .repo file (default: file://DIR)
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Keep only the N highest versions of each package and architecture; older ones leave the
    /// metadata and their files are deleted
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Fail at once when another run is updating the repository, instead of waiting for it
    #[arg(long)]
    pub no_wait: bool,
    /// The .rpm files to add
    #[arg(required = true, value_name = "RPM")]
    pub rpms: Vec<PathBuf>,
    #[command(flatten)]
    pub output: forge_core::cli::OutputArgs,
}

impl RepoArgs {
    /// The update these flags ask for (`SOURCE_DATE_EPOCH` from the environment).
    pub fn options(&self) -> Result<RepoOptions> {
        Ok(RepoOptions {
            dir: self.dir.clone(),
            rpms: self.rpms.clone(),
            sign_key: self.sign_key.clone(),
            gpg_homedir: None,
            repo_id: self.repo_id.clone(),
            base_url: self.base_url.clone(),
            keep: self.keep,
            source_date_epoch: super::source_date_epoch_from_env()?,
            no_wait: self.no_wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        repo: super::RepoArgs,
    }

    #[test]
    fn flags_parse() {
        Cmd::command().debug_assert();
        let c = Cmd::try_parse_from([
            "repo",
            "--dir",
            "d",
            "--sign-key",
            "K",
            "--no-wait",
            "a.rpm",
            "b.rpm",
        ])
        .unwrap();
        let o = c.repo.options().unwrap();
        assert_eq!(o.rpms.len(), 2);
        assert_eq!(o.sign_key.as_deref(), Some("K"));
        assert!(o.no_wait);
        assert!(Cmd::try_parse_from(["repo", "--dir", "d"]).is_err());
    }
}

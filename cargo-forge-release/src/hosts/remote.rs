//! Construction of the hosts that talk to a remote service (GitHub, Gitea/Forgejo, S3), from
//! their config tables and the environment (tokens, credentials).

use anyhow::Result;

use forge_core::http::HttpClient;

use super::{Host, HostSpec};

/// A remote host from its spec. Fails (exit 2) when its credentials are missing.
pub fn make_remote(spec: &HostSpec, http: &HttpClient) -> Result<Box<dyn Host>> {
    match spec {
        HostSpec::Github { repo } => Ok(Box::new(super::github::GithubHost::from_env(
            repo,
            http.clone(),
        )?)),
        HostSpec::Gitea { url, repo } => Ok(Box::new(super::gitea::GiteaHost::from_env(
            url,
            repo,
            http.clone(),
        )?)),
        HostSpec::S3 { .. } => Ok(Box::new(super::s3::S3Host::from_spec(spec, http)?)),
        _ => unreachable!("local hosts are built by ops::make_host"),
    }
}

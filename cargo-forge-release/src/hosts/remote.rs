//! Construction of the hosts that talk to a remote service (GitHub, Gitea/Forgejo, S3), from
//! their config tables and the environment (tokens, credentials).

use anyhow::Result;

use forge_core::http::HttpClient;

use super::{Host, HostSpec};

/// A remote host from its spec, with its credentials from the environment. Fails (exit 2)
/// when they are missing, naming the variables.
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
        _ => Err(anyhow::anyhow!(
            "internal error: local hosts are built by ops::make_host"
        )),
    }
}

/// A remote host from its spec without credentials: for naming it and describing what it
/// will do (the plan reads no secret). Any request it sent would be refused.
pub fn describe_remote(spec: &HostSpec, http: &HttpClient) -> Result<Box<dyn Host>> {
    use forge_core::secret::Secret;
    match spec {
        HostSpec::Github { repo } => {
            let api_url = std::env::var("GITHUB_API_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| super::github::DEFAULT_API_URL.to_string());
            Ok(Box::new(super::github::GithubHost::new(
                repo,
                api_url,
                Secret::new(""),
                http.clone(),
            )?))
        }
        HostSpec::Gitea { url, repo } => Ok(Box::new(super::gitea::GiteaHost::new(
            url,
            repo,
            Secret::new(""),
            http.clone(),
        )?)),
        HostSpec::S3 { .. } => {
            let config = super::s3::S3Config::from_spec(spec)
                .ok_or_else(|| anyhow::anyhow!("not an s3 host table: {spec:?}"))?;
            let credentials = super::s3::S3Credentials::new("", Secret::new(""), None);
            Ok(Box::new(super::s3::S3Host::new(config, credentials, http)?))
        }
        _ => Err(anyhow::anyhow!(
            "internal error: local hosts are built by ops::make_host"
        )),
    }
}

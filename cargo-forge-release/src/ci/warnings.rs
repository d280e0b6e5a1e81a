//! The warnings of `ci` about settings that work only on some runners (a toolchain directory, a
//! host or registry on loopback, a directory outside the runner's checkout): right for a
//! self-hosted runner, so they are warnings and the workflow is written all the same.

use super::*;

/// Whether a URL or `host[:port]` names this machine.
pub(super) fn is_loopback(location: &str) -> bool {
    let rest = location
        .split_once("://")
        .map_or(location, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Settings that work only on some runners (they are right for a self-hosted runner that has
/// them): a toolchain directory, a host or registry on loopback, a directory host or APT
/// repository outside a cloud runner's throw-away checkout. Each is one sentence for a
/// `warning:` line; `ci` writes the workflow all the same.
pub fn portability_warnings(
    provider: Provider,
    toolchain: Option<&str>,
    hosts: &[HostSpec],
) -> Vec<String> {
    let hosted = match provider {
        Provider::Github => "GitHub-hosted runners",
        Provider::Forgejo => "runners in containers",
    };
    let mut out = Vec::new();
    if let Some(t) = toolchain.filter(|t| t.contains('/')) {
        out.push(format!(
            "`toolchain = \"{t}\"` is a directory: only runners that have that toolchain at that path can run the workflow's jobs (right for self-hosted runners; {hosted} need a rustup toolchain name)"
        ));
    }
    let self_hosted = "only a self-hosted runner on that machine reaches it";
    for h in hosts {
        match h {
            HostSpec::Oci { repository } if is_loopback(repository) => out.push(format!(
                "the `oci` host's registry `{repository}` is on loopback: {self_hosted}"
            )),
            HostSpec::S3 {
                endpoint: Some(e), ..
            } if is_loopback(e) => out.push(format!(
                "the `s3` host's endpoint `{e}` is on loopback: {self_hosted}"
            )),
            HostSpec::Gitea { url, .. } if is_loopback(url) => out.push(format!(
                "the `gitea` host `{url}` is on loopback: {self_hosted}"
            )),
            HostSpec::Apt {
                endpoint: Some(e), ..
            } if is_loopback(e) => out.push(format!(
                "the `apt` host's endpoint `{e}` is on loopback: {self_hosted}"
            )),
            HostSpec::Dir { path }
            | HostSpec::Apt {
                dir: Some(path), ..
            } => {
                let kind = if matches!(h, HostSpec::Dir { .. }) {
                    "dir"
                } else {
                    "apt"
                };
                if path.is_absolute() {
                    out.push(format!(
                        "the `{kind}` host `{}` is an absolute directory: only a self-hosted runner that has it publishes there",
                        path.display()
                    ));
                } else {
                    out.push(format!(
                        "the `{kind}` host `{}` is inside the publish job's checkout, which {hosted} discard when the job ends: give an absolute directory on a self-hosted runner, or another host",
                        path.display()
                    ));
                }
            }
            _ => {}
        }
    }
    if hosts.is_empty() {
        out.push(format!(
            "no `hosts` in the release table: the release goes to `target/forge/release/<version>/publish` inside the publish job's checkout, which {hosted} discard when the job ends"
        ));
    }
    out
}

//! How the registry client authenticates: the challenge a registry answers `GET /v2/` (or a
//! 401) with, `Basic` credentials, and `Bearer` tokens per scope from the registry's token
//! service, cached until they expire.
//!
//! Split from [`super::client`] because this is the part that holds secrets: tokens and
//! credentials live here, in [`AuthState`], and leave only as an `Authorization` for the
//! registry's own origin. Where credentials are found (docker config, helpers, environment) is
//! [`crate::auth`]'s business; this module asks it only when a registry wants them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use forge_core::exit::{with_hint, with_kind, ErrorKind, ResultExt};
use forge_core::http::{self, Auth, Body, Request, Response};
use forge_core::secret::Secret;
use forge_core::Shell;
use serde::Deserialize;

use super::{encode, status_and_detail, RegistryClient};
use crate::auth::{Credential, Found};

/// How a registry wants to be authenticated (from `GET /v2/` or a 401's `WWW-Authenticate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses `WWW-Authenticate`: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(params);
    let realm = params.get("realm")?.clone();
    Some(Challenge::Bearer {
        realm,
        service: params.get("service").cloned(),
    })
}

/// `key="value", key=value` pairs, keys lowercased; quoted values may hold commas.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        out.insert(key, value);
    }
    out
}

pub(super) struct Token {
    value: Secret,
    expires: Instant,
}

#[derive(Default)]
pub(super) struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
    credential: Option<Option<Found>>,
}

/// The scopes of a token for `repo`: pull (and push), plus pull on a mount source.
pub(super) fn scopes(repo: &str, push: bool, mount_from: Option<&str>) -> Vec<String> {
    let mut v = vec![format!(
        "repository:{repo}:{}",
        if push { "pull,push" } else { "pull" }
    )];
    if let Some(from) = mount_from {
        v.push(format!("repository:{from}:pull"));
    }
    v
}

impl RegistryClient {
    /// The registry's auth challenge, from `GET /v2/` the first time.
    pub(super) fn challenge(&self, shell: &Shell) -> Result<Challenge> {
        if let Some(c) = &self.state().challenge {
            return Ok(c.clone());
        }
        let registry = &self.registry;
        let url = format!("{}/v2/", self.base);
        let resp = self
            .http
            .request(&Request::get(&url), shell)
            .with_context(|| format!("failed to reach the registry {registry}"))?;
        let challenge = match resp.status {
            200..=299 => Challenge::None,
            401 => resp
                .header("www-authenticate")
                .and_then(parse_challenge)
                .with_context(|| {
                    format!(
                        "the registry {registry} asks for authentication with a scheme we do \
                         not support: `{}`",
                        resp.header("www-authenticate").unwrap_or("")
                    )
                })
                .kind(ErrorKind::Network)?,
            _ => {
                return Err(anyhow::anyhow!(
                    "{registry} does not look like a container registry: GET /v2/ answered {}",
                    status_and_detail(&resp)
                ))
                .kind(ErrorKind::Network)
            }
        };
        self.state().challenge = Some(challenge.clone());
        Ok(challenge)
    }

    /// The credential for the registry, looked up once.
    fn credential(&self) -> Result<Option<Found>> {
        if let Some(found) = &self.state().credential {
            return Ok(found.clone());
        }
        let found = self.credentials.lookup(&self.registry)?;
        self.state().credential = Some(found.clone());
        Ok(found)
    }

    /// The `Authorization` for a request needing `scopes`.
    pub(super) fn authorize(&self, scopes: &[String], shell: &Shell) -> Result<Option<Auth>> {
        match self.challenge(shell)? {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(match self.credential()? {
                Some(Found {
                    credential: Credential::Basic { username, password },
                    ..
                }) => Some(Auth::Basic { username, password }),
                Some(Found {
                    credential: Credential::IdentityToken(_),
                    source,
                }) => bail!(
                    "the registry {} wants a user name and password, but {source} has only an \
                     identity token for it",
                    self.registry
                ),
                None => None,
            }),
            Challenge::Bearer { realm, service } => {
                let key = scopes.join(" ");
                if let Some(token) = self.state().tokens.get(&key) {
                    if token.expires > Instant::now() {
                        return Ok(Some(Auth::Bearer(token.value.clone())));
                    }
                }
                let token = self.fetch_token(&realm, service.as_deref(), scopes, shell)?;
                let auth = Auth::Bearer(token.value.clone());
                self.state().tokens.insert(key, token);
                Ok(Some(auth))
            }
        }
    }

    /// A bearer token from the registry's token service.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        shell: &Shell,
    ) -> Result<Token> {
        let registry = &self.registry;
        let found = self.credential()?;
        let realm_host = http::url_host(realm).unwrap_or_else(|| realm.to_string());
        let req = match found.as_ref().map(|f| &f.credential) {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = vec![
                    "grant_type=refresh_token".to_string(),
                    format!("refresh_token={}", encode(refresh.expose())),
                    "client_id=cargo-forge".to_string(),
                ];
                if let Some(s) = service {
                    form.push(format!("service={}", encode(s)));
                }
                form.push(format!("scope={}", encode(&scopes.join(" "))));
                Request::post(realm)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(Body::bytes(form.join("&")))
            }
            other => {
                let mut query = Vec::new();
                if let Some(s) = service {
                    query.push(format!("service={}", encode(s)));
                }
                for s in scopes {
                    query.push(format!("scope={}", encode(s)));
                }
                let sep = if realm.contains('?') { '&' } else { '?' };
                let auth = match other {
                    Some(Credential::Basic { username, password }) => Some(Auth::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    }),
                    _ => None,
                };
                Request::get(format!("{realm}{sep}{}", query.join("&"))).auth(auth)
            }
        };
        let fetched_at = Instant::now();
        let resp = self
            .http
            .request(&req, shell)
            .with_context(|| format!("failed to get a token for {registry} from {realm_host}"))?;
        if matches!(resp.status, 401 | 403) {
            return Err(self.auth_failure(&format!(
                "the token service {realm_host} answered {}",
                status_and_detail(&resp)
            )));
        }
        if !resp.is_success() {
            return Err(anyhow::anyhow!(
                "failed to get a token for {registry}: {realm_host} answered {}",
                status_and_detail(&resp)
            ))
            .kind(ErrorKind::Network);
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&resp.body)
            .with_context(|| format!("the token service {realm_host} sent an invalid answer"))
            .kind(ErrorKind::Network)?;
        let value = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .with_context(|| format!("the token service {realm_host} sent no token"))
            .kind(ErrorKind::Network)?;
        // The spec's default and minimum lifetime is 60 s; renew a little early.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(60));
        Ok(Token {
            value: Secret::new(value),
            expires: fetched_at + lifetime - Duration::from_secs(15),
        })
    }

    /// "authentication to REGISTRY failed …", saying where the credentials came from, with a hint
    /// on where they are looked up. Never contains a password.
    pub(super) fn auth_failure(&self, detail: &str) -> anyhow::Error {
        let found = self.state().credential.clone().flatten();
        let with = match &found {
            Some(f) => match f.username() {
                Some(user) => format!("with user `{user}` from {}", f.source),
                None => format!("with the identity token from {}", f.source),
            },
            None => "without credentials (none were found)".to_string(),
        };
        let err = anyhow::anyhow!(
            "authentication to {} failed {with}: {detail}",
            self.registry
        );
        with_hint(
            with_kind(err, ErrorKind::Network),
            self.credentials.how_found(&self.registry),
        )
    }

    /// Forgets a token (and takes a 401's new challenge) after the registry refused it.
    pub(super) fn reauthenticate(&self, resp: &Response, scopes: &[String]) {
        let mut state = self.state();
        if let Some(c) = resp.header("www-authenticate").and_then(parse_challenge) {
            state.challenge = Some(c);
        }
        state.tokens.remove(&scopes.join(" "));
    }
}

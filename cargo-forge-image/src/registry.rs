//! Image references and the registry client (the OCI distribution API).
//!
//! [`Reference`] parses what users write (`[registry/]repo[:tag][@sha256:…]`) the way docker does:
//! Docker Hub by default with `library/` for official images, a first component with a `.` or a
//! `:` (or `localhost`) is a registry, repository names are lowercase.
//!
//! [`RegistryClient`] speaks the distribution API over [`forge_core::http::HttpClient`], so every
//! call has the suite's one retry policy. There is one client per registry, because what is
//! learnt — the auth challenge, the credential, the tokens — belongs to a registry; its methods
//! take the repository name (`acme/app`) and, last, the [`Shell`], like every I/O call of the
//! suite. The protocol is the OCI distribution API (push by digest, then merge):
//!
//! - **Auth** is discovered once per registry with `GET /v2/`: no challenge, `Basic` (credentials
//!   sent with every request) or `Bearer realm=…,service=…` (a token per scope
//!   `repository:NAME:pull,push`, plus `repository:SRC:pull` for a mount, cached until it expires).
//!   A 401 later on (an expired token, a repository-specific challenge) re-authenticates once.
//!   Credentials come from [`crate::auth`], only when a registry asks.
//! - **Blobs** ([`RegistryClient::push_blob`]): `HEAD` first (present = skipped); a cross-repository
//!   mount when asked (201 = mounted; 202 = the registry started an ordinary upload session
//!   instead, which we use); otherwise a monolithic upload, `POST …/blobs/uploads/` then
//!   `PUT <Location>?digest=D`. An upload session cannot be replayed after a failed `PUT` (the
//!   registry may have consumed or dropped it), so the `PUT` is sent once and a failure restarts
//!   from a new `POST`, after checking with `HEAD` whether the blob arrived after all. Each restart
//!   counts as an attempt of the same retry policy.
//! - **Manifests** are `PUT` with their media type as `Content-Type`, by digest or by tag (the
//!   caller pushes tags last), and the digest the registry reports is checked against ours.
//!   Fetches by digest are verified by SHA-256; `HEAD` gives digest, size and type without counting
//!   against Docker Hub's pull limit.
//!
//! Errors name the registry and the repository. 401/403 become "authentication to REGISTRY
//! failed", saying where the credentials came from (never what they are) with a hint on where
//! they are looked up; 404 says what was not found; an unreachable host is a network error naming
//! it (from the HTTP client).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use forge_core::exit::{usage, with_hint, with_kind, ErrorKind, ResultExt};
use forge_core::http::{self, Auth, Body, HttpClient, Request, Response};
use forge_core::secret::Secret;
use forge_core::Shell;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::auth::{is_docker_hub, normalize_registry, Credential, Credentials, Found, DOCKER_HUB};

/// The host Docker Hub's API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// An image reference: `[registry/]repo[:tag][@sha256:…]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    /// `host[:port]`, Docker Hub as `docker.io`.
    pub registry: String,
    /// `acme/app` (`library/alpine` on Docker Hub).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference, with errors that say what is wrong (exit code 2).
    pub fn parse(text: &str) -> Result<Reference> {
        let invalid = |why: &str| usage(format!("invalid image reference `{text}`: {why}"));
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        if text.contains("://") {
            return Err(invalid(
                "write it without a scheme, as `registry/repository:tag`",
            ));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(|e| invalid(&e.to_string()))?;
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|e| invalid(&e.to_string()))?;
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_ascii_lowercase(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if registry.is_empty() {
            return Err(invalid("the registry is empty"));
        }
        let registry = normalize_registry(&registry);
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        validate_repository(&path).map_err(|e| invalid(&e.to_string()))?;
        Ok(Reference {
            registry,
            repository: path,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest if any, else the tag, else `latest`.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        validate_tag(tag)?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn with_digest(&self, digest: &str) -> Result<Reference> {
        validate_digest(digest)?;
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }
}

impl FromStr for Reference {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// A repository name: lowercase components `[a-z0-9]+([._-][a-z0-9]+)*` joined by `/`.
pub fn validate_repository(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(usage("the repository name is empty"));
    }
    if name.len() > 255 {
        return Err(usage(format!(
            "the repository name `{name}` is longer than 255 characters"
        )));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(usage(format!(
            "repository names must be lowercase: `{name}` (try `{}`)",
            name.to_ascii_lowercase()
        )));
    }
    for component in name.split('/') {
        let ok = !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && !component.contains("..")
            && !component.contains("___")
            && !component.contains("._")
            && !component.contains("_.")
            && !component.contains(".-")
            && !component.contains("-.");
        if !ok {
            return Err(usage(format!(
                "invalid repository name `{name}`: each `/`-separated part must be lowercase \
                 letters and digits, separated by `.`, `_`, `__` or dashes"
            )));
        }
    }
    Ok(())
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid tag `{tag}`: tags are up to 128 letters, digits, `_`, `.` and `-`, not \
             starting with `.` or `-`"
        )))
    }
}

/// A digest: `sha256:<64 lowercase hex>`.
pub fn validate_digest(digest: &str) -> Result<()> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
        {
            Ok(())
        }
        Some((alg, _)) if alg != "sha256" => Err(usage(format!(
            "unsupported digest `{digest}`: only sha256 digests are supported"
        ))),
        _ => Err(usage(format!(
            "invalid digest `{digest}`: expected `sha256:` and 64 lowercase hex digits"
        ))),
    }
}

/// `sha256:<hex>` of bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", forge_core::digest::sha256_hex(bytes))
}

/// The host a registry's API answers on (Docker Hub's is not `docker.io`).
pub fn api_host(registry: &str) -> &str {
    if is_docker_hub(registry) {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// What [`RegistryClient::push_blob`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The registry had the blob already.
    Skipped,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// Sent.
    Uploaded,
}

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

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `errors` of a registry's JSON error body, as `CODE: message; …`.
fn registry_errors(resp: &Response) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    let parsed: Errors = serde_json::from_slice(&resp.body).ok()?;
    let parts: Vec<String> = parsed
        .errors
        .into_iter()
        .map(|e| match (e.code, e.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            (None, Some(m)) => m,
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The status and, when the registry explained it, why.
fn status_and_detail(resp: &Response) -> String {
    let status = http::status_text(resp.status);
    match registry_errors(resp) {
        Some(detail) => format!("{status}: {detail}"),
        None => {
            let text = resp.text();
            let text = text.trim();
            if text.is_empty() || text.len() > 200 || text.starts_with('<') {
                status
            } else {
                format!("{status}: {text}")
            }
        }
    }
}

struct Token {
    value: Secret,
    expires: Instant,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
    credential: Option<Option<Found>>,
}

/// The scopes of a token for `repo`: pull (and push), plus pull on a mount source.
fn scopes(repo: &str, push: bool, mount_from: Option<&str>) -> Vec<String> {
    let mut v = vec![format!(
        "repository:{repo}:{}",
        if push { "pull,push" } else { "pull" }
    )];
    if let Some(from) = mount_from {
        v.push(format!("repository:{from}:pull"));
    }
    v
}

/// A client of one registry. Share it by reference across threads (parallel blob uploads).
pub struct RegistryClient {
    http: HttpClient,
    registry: String,
    base: String,
    credentials: Credentials,
    state: Mutex<AuthState>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("base", &self.base)
            .finish()
    }
}

impl RegistryClient {
    /// A client of `registry` (`host[:port]`, any Docker Hub alias). Asks `GET /v2/` how to
    /// authenticate right away, so an unreachable or wrong host is reported before any work.
    pub fn new(
        http: HttpClient,
        registry: &str,
        credentials: Credentials,
        shell: &Shell,
    ) -> Result<RegistryClient> {
        let client = RegistryClient::unchecked(http, registry, credentials)?;
        client.challenge(shell)?;
        Ok(client)
    }

    /// A client that contacts the registry only when first used.
    pub fn unchecked(
        http: HttpClient,
        registry: &str,
        credentials: Credentials,
    ) -> Result<RegistryClient> {
        let registry = normalize_registry(registry);
        if registry.is_empty() || registry.contains('/') {
            return Err(usage(format!(
                "invalid registry `{registry}`: expected `host` or `host:port`"
            )));
        }
        let host = api_host(&registry).to_string();
        let (name, port) = split_host_port(&host);
        let base = if http.allows_plain_http(name, port) {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        };
        Ok(RegistryClient {
            http,
            registry,
            base,
            credentials,
            state: Mutex::new(AuthState::default()),
        })
    }

    /// The registry, as `host[:port]` (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `scheme://host` of the API: plain HTTP for loopback and `--insecure-registry` hosts,
    /// HTTPS otherwise.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The HTTP client (for its attempt counters).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn url(&self, repo: &str, rest: &str) -> String {
        format!("{}/v2/{repo}/{rest}", self.base)
    }

    /// The registry's auth challenge, from `GET /v2/` the first time.
    fn challenge(&self, shell: &Shell) -> Result<Challenge> {
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
    fn authorize(&self, scopes: &[String], shell: &Shell) -> Result<Option<Auth>> {
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
    fn auth_failure(&self, detail: &str) -> anyhow::Error {
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
    fn reauthenticate(&self, resp: &Response, scopes: &[String]) {
        let mut state = self.state();
        if let Some(c) = resp.header("www-authenticate").and_then(parse_challenge) {
            state.challenge = Some(c);
        }
        state.tokens.remove(&scopes.join(" "));
    }

    /// Sends a request built by `make` with the right authorization (only to the registry's own
    /// origin: an upload `Location` elsewhere gets none); on a 401, re-authenticates once (new
    /// challenge, new token) and sends it again.
    fn send(
        &self,
        scopes: &[String],
        once: bool,
        make: impl Fn() -> Request,
        shell: &Shell,
    ) -> Result<Response> {
        let send = |req: &Request| {
            if once {
                self.http.request_once(req, shell)
            } else {
                self.http.request(req, shell)
            }
        };
        let mut req = make();
        // Credentials only for the registry's own origin (scheme, host and port): an upload
        // `Location` on another port of the same host is another server.
        if !http::same_origin(&req.url, &self.base) {
            return send(&req);
        }
        req.auth = self.authorize(scopes, shell)?;
        let resp = send(&req)?;
        if resp.status != 401 {
            return Ok(resp);
        }
        self.reauthenticate(&resp, scopes);
        let auth = self.authorize(scopes, shell)?;
        if auth.is_none() {
            return Ok(resp);
        }
        shell.verbose_status("Authenticating", format!("again with {}", self.registry));
        let mut again = make();
        again.auth = auth;
        send(&again)
    }

    /// Turns a response that is not what we wanted into an error naming registry and repository.
    fn unexpected(&self, repo: &str, what: &str, resp: &Response) -> anyhow::Error {
        let registry = &self.registry;
        match resp.status {
            401 | 403 => self.auth_failure(&format!(
                "{what} in `{repo}` was refused ({})",
                status_and_detail(resp)
            )),
            429 => {
                let after = resp
                    .retry_after()
                    .map(|d| format!("; it asks to retry after {} s", d.as_secs()))
                    .unwrap_or_default();
                with_kind(
                    anyhow::anyhow!(
                        "{registry} is rate limiting requests ({what} in `{repo}`){after}"
                    ),
                    ErrorKind::Network,
                )
            }
            _ => with_kind(
                anyhow::anyhow!(
                    "{what} in {registry}/{repo} failed: the registry answered {}",
                    status_and_detail(resp)
                ),
                ErrorKind::Network,
            ),
        }
    }

    /// Whether the repository has the blob (`HEAD`).
    pub fn blob_exists(&self, repo: &str, digest: &str, shell: &Shell) -> Result<bool> {
        self.blob_exists_with(repo, digest, &scopes(repo, false, None), shell)
    }

    fn blob_exists_with(
        &self,
        repo: &str,
        digest: &str,
        scopes: &[String],
        shell: &Shell,
    ) -> Result<bool> {
        validate_repository(repo)?;
        validate_digest(digest)?;
        let url = self.url(repo, &format!("blobs/{digest}"));
        let resp = self.send(scopes, false, || Request::head(&url), shell)?;
        match resp.status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.unexpected(repo, &format!("checking for blob {digest}"), &resp)),
        }
    }

    /// Pushes a blob unless the repository has it: `HEAD`, then a mount from `mount_from` (a
    /// repository of the same registry) when given, then a monolithic upload of `body`
    /// ([`Body::Bytes`] or [`Body::File`]). `progress` advances with the bytes sent (and jumps to
    /// the end when nothing needs sending).
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &str,
        body: Body,
        mount_from: Option<&str>,
        progress: Option<&ProgressBar>,
        shell: &Shell,
    ) -> Result<Outcome> {
        validate_digest(digest)?;
        let size = body.len();
        let mount_from = mount_from.filter(|from| *from != repo);
        if let Some(from) = mount_from {
            validate_repository(from)?;
        }
        let scopes = scopes(repo, true, mount_from);
        let done = |outcome| {
            if let Some(bar) = progress {
                bar.set_position(size);
            }
            Ok(outcome)
        };
        if self.blob_exists_with(repo, digest, &scopes, shell)? {
            return done(Outcome::Skipped);
        }
        let mut session = None;
        if let Some(from) = mount_from {
            let url = self.url(
                repo,
                &format!(
                    "blobs/uploads/?mount={}&from={}",
                    encode(digest),
                    encode(from)
                ),
            );
            let resp = self.send(&scopes, false, || Request::post(&url), shell)?;
            match resp.status {
                201 => {
                    self.check_reported_digest(repo, digest, &resp)?;
                    return done(Outcome::Mounted);
                }
                202 => session = Some(self.location(repo, &url, &resp)?),
                401 | 403 => {
                    return Err(self.unexpected(repo, &format!("mounting blob {digest}"), &resp))
                }
                _ => shell.verbose_status(
                    "Uploading",
                    format!(
                        "{digest}: the mount from `{from}` was not accepted ({})",
                        http::status_text(resp.status)
                    ),
                ),
            }
        }
        let policy = self.http.policy();
        let max = policy.max_attempts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let location = match session.take() {
                Some(location) => location,
                None => self.start_upload(repo, &scopes, shell)?,
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{sep}digest={}", encode(digest));
            let make = || {
                Request::put(&url)
                    .header("Content-Type", "application/octet-stream")
                    .body(body.clone())
                    .progress(progress.cloned())
            };
            let why = match self.send(&scopes, true, make, shell) {
                Ok(resp) if resp.is_success() => {
                    self.check_reported_digest(repo, digest, &resp)?;
                    return Ok(Outcome::Uploaded);
                }
                Ok(resp) if http::is_retryable_status(resp.status) && attempt < max => {
                    http::status_text(resp.status)
                }
                Ok(resp) => {
                    return Err(self.unexpected(repo, &format!("uploading blob {digest}"), &resp))
                }
                Err(e)
                    if forge_core::exit::kind_of(&e) == Some(ErrorKind::Network)
                        && attempt < max =>
                {
                    e.root_cause().to_string()
                }
                Err(e) => {
                    return Err(e.context(format!(
                        "failed to upload blob {digest} to {}/{repo}",
                        self.registry
                    )))
                }
            };
            // The session is spent. The blob may have arrived before the connection broke.
            if self.blob_exists_with(repo, digest, &scopes, shell)? {
                return done(Outcome::Uploaded);
            }
            let wait = policy.backoff(attempt);
            shell.verbose_status(
                "Retrying",
                format!(
                    "upload of {digest} to {}/{repo} in a new session ({why}), attempt {}/{max} \
                     in {:.1}s",
                    self.registry,
                    attempt + 1,
                    wait.as_secs_f64()
                ),
            );
            std::thread::sleep(wait);
        }
    }

    /// `POST …/blobs/uploads/` → the session's upload URL.
    fn start_upload(&self, repo: &str, scopes: &[String], shell: &Shell) -> Result<String> {
        let url = self.url(repo, "blobs/uploads/");
        let resp = self.send(scopes, false, || Request::post(&url), shell)?;
        if resp.status != 202 {
            return Err(self.unexpected(repo, "starting a blob upload", &resp));
        }
        self.location(repo, &url, &resp)
    }

    /// The `Location` of a response, made absolute.
    fn location(&self, repo: &str, request_url: &str, resp: &Response) -> Result<String> {
        let location = resp
            .header("location")
            .with_context(|| {
                format!(
                    "{} answered {} without a `Location` for an upload to `{repo}`",
                    self.registry,
                    http::status_text(resp.status)
                )
            })
            .kind(ErrorKind::Network)?;
        Ok(resolve_location(request_url, location))
    }

    /// Checks `Docker-Content-Digest`, when the registry sends it, against ours.
    fn check_reported_digest(&self, repo: &str, digest: &str, resp: &Response) -> Result<()> {
        match resp.header("docker-content-digest") {
            Some(reported) if reported != digest => Err(anyhow::anyhow!(
                "{} stored {digest} in `{repo}` under the digest {reported}",
                self.registry
            ))
            .kind(ErrorKind::Check),
            _ => Ok(()),
        }
    }

    /// Pushes a manifest by digest or by tag; returns its digest (checked against the one the
    /// registry reports).
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        shell: &Shell,
    ) -> Result<String> {
        validate_repository(repo)?;
        let digest = digest_of(bytes);
        if reference.contains(':') {
            validate_digest(reference)?;
            if reference != digest {
                bail!("the manifest pushed as {reference} has the digest {digest}");
            }
        } else {
            validate_tag(reference)?;
        }
        let url = self.url(repo, &format!("manifests/{reference}"));
        let body = Body::bytes(bytes.to_vec());
        let make = || {
            Request::put(&url)
                .header("Content-Type", media_type)
                .body(body.clone())
        };
        let resp = self.send(&scopes(repo, true, None), false, make, shell)?;
        if !resp.is_success() {
            return Err(self.unexpected(repo, &format!("pushing manifest `{reference}`"), &resp));
        }
        self.check_reported_digest(repo, &digest, &resp)?;
        Ok(digest)
    }

    /// `HEAD` of a manifest: `(digest, size, media type)`, or `None` when absent.
    pub fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        shell: &Shell,
    ) -> Result<Option<(String, u64, String)>> {
        validate_repository(repo)?;
        let url = self.url(repo, &format!("manifests/{reference}"));
        let make = || Request::head(&url).header("Accept", accept.join(", "));
        let resp = self.send(&scopes(repo, false, None), false, make, shell)?;
        match resp.status {
            404 => return Ok(None),
            200..=299 => {}
            _ => return Err(self.unexpected(repo, &format!("looking up `{reference}`"), &resp)),
        }
        let size = resp.header("content-length").and_then(|v| v.parse().ok());
        match (resp.header("docker-content-digest"), size) {
            (Some(digest), Some(size)) if validate_digest(digest).is_ok() => {
                Ok(Some((digest.to_string(), size, content_type(&resp))))
            }
            // Not every registry says (ECR, some proxies): fetch it and see.
            _ => {
                let (bytes, media_type, digest) =
                    self.get_manifest(repo, reference, accept, shell)?;
                Ok(Some((digest, bytes.len() as u64, media_type)))
            }
        }
    }

    /// Every tag of `repo` (`GET /v2/<name>/tags/list`, following `Link: <…>; rel="next"`
    /// pages); empty when the repository does not exist yet.
    pub fn list_tags(&self, repo: &str, shell: &Shell) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        validate_repository(repo)?;
        let mut url = self.url(repo, "tags/list?n=1000");
        let mut out: Vec<String> = Vec::new();
        // A registry that keeps answering `next` is cut off rather than followed for ever.
        for _ in 0..1000 {
            let page_url = url.clone();
            let resp = self.send(
                &scopes(repo, false, None),
                false,
                || Request::get(&page_url).header("Accept", "application/json"),
                shell,
            )?;
            if resp.status == 404 {
                return Ok(out);
            }
            if !resp.is_success() {
                return Err(self.unexpected(repo, "listing the tags", &resp));
            }
            let list: TagList = serde_json::from_slice(&resp.body).with_context(|| {
                format!(
                    "{}/{repo} answered the tag list with something that is not one",
                    self.registry
                )
            })?;
            out.extend(list.tags.unwrap_or_default());
            let next = resp.header("link").and_then(|l| {
                l.split(',')
                    .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
                    .and_then(|part| {
                        let start = part.find('<')? + 1;
                        let end = part.find('>')?;
                        (start < end).then(|| part[start..end].to_string())
                    })
            });
            match next {
                Some(next) => url = resolve_location(&page_url, &next),
                None => break,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Fetches a manifest: `(bytes, media type, digest)`. By digest it is verified; by tag its
    /// digest is computed (and checked against `Docker-Content-Digest` when sent).
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        shell: &Shell,
    ) -> Result<(Vec<u8>, String, String)> {
        self.get_manifest_limited(repo, reference, accept, http::MAX_BODY, shell)
    }

    /// [`RegistryClient::get_manifest`] reading at most `max` bytes: more is an error with
    /// [`http::TooLarge`] in its chain.
    pub fn get_manifest_limited(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
        max: u64,
        shell: &Shell,
    ) -> Result<(Vec<u8>, String, String)> {
        validate_repository(repo)?;
        if reference.contains(':') {
            validate_digest(reference)?;
        } else {
            validate_tag(reference)?;
        }
        let url = self.url(repo, &format!("manifests/{reference}"));
        let make = || {
            Request::get(&url)
                .header("Accept", accept.join(", "))
                .max_body(max)
        };
        let resp = self.send(&scopes(repo, false, None), false, make, shell)?;
        if resp.status == 404 {
            return Err(usage(format!(
                "manifest `{reference}` was not found in {}/{repo}",
                self.registry
            )));
        }
        if !resp.is_success() {
            return Err(self.unexpected(repo, &format!("fetching `{reference}`"), &resp));
        }
        let digest = digest_of(&resp.body);
        let expected = if reference.contains(':') {
            Some(reference)
        } else {
            resp.header("docker-content-digest")
        };
        if let Some(expected) = expected {
            if expected != digest {
                return Err(anyhow::anyhow!(
                    "the manifest `{reference}` from {}/{repo} does not match its digest: \
                     expected {expected}, got {digest}",
                    self.registry
                ))
                .kind(ErrorKind::Check);
            }
        }
        let media_type = content_type(&resp);
        Ok((resp.body, media_type, digest))
    }

    /// Downloads a blob to `path`, verified against its digest; `path` appears only complete.
    /// `size`: what its descriptor says; a longer answer is cut off as an error ([`http::TooLarge`]).
    pub fn get_blob_to_file(
        &self,
        repo: &str,
        digest: &str,
        size: Option<u64>,
        path: &std::path::Path,
        shell: &Shell,
    ) -> Result<()> {
        validate_repository(repo)?;
        validate_digest(digest)?;
        let url = self.url(repo, &format!("blobs/{digest}"));
        let scopes = scopes(repo, false, None);
        let hex = &digest["sha256:".len()..];
        for _ in 0..2 {
            let auth = self.authorize(&scopes, shell)?;
            let had_auth = auth.is_some();
            let mut req = Request::get(&url).auth(auth);
            if let Some(size) = size {
                req = req.max_body(size);
            }
            let resp = self
                .http
                .download(&req, path, Some(hex), shell)
                .with_context(|| {
                    format!(
                        "failed to download blob {digest} from {}/{repo}",
                        self.registry
                    )
                })?;
            match resp.status {
                200..=299 => return Ok(()),
                401 if had_auth => self.reauthenticate(&resp, &scopes),
                404 => {
                    return Err(anyhow::anyhow!(
                        "blob {digest} was not found in {}/{repo}",
                        self.registry
                    ))
                    .kind(ErrorKind::Network)
                }
                _ => {
                    return Err(self.unexpected(repo, &format!("downloading blob {digest}"), &resp))
                }
            }
        }
        Err(self.auth_failure(&format!(
            "downloading blob {digest} from `{repo}` was refused"
        )))
    }
}

/// The media type of a response, without parameters.
fn content_type(resp: &Response) -> String {
    resp.header("content-type")
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// `host[:port]` → (`host`, port).
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (host, None),
    }
}

pub use forge_core::http::resolve_location;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_like_docker() {
        let r = parse("alpine");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/alpine")
        );
        assert_eq!((r.tag.as_deref(), r.reference()), (None, "latest"));
        let r = parse("acme/app:1.2.3");
        assert_eq!(r.repository, "acme/app");
        assert_eq!(r.tag.as_deref(), Some("1.2.3"));
        let r = parse("ghcr.io/acme/app:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("ghcr.io", "acme/app")
        );
        let r = parse("127.0.0.1:5000/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag),
            ("127.0.0.1:5000", "app", None)
        );
        let r = parse(&format!("localhost:5000/a/b:t@{D}"));
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(
            (r.tag.as_deref(), r.digest.as_deref()),
            (Some("t"), Some(D))
        );
        assert_eq!(r.reference(), D);
        let r = parse("localhost/app");
        assert_eq!(r.registry, "localhost");
        let r = parse("index.docker.io/nginx");
        assert_eq!(r.name(), "docker.io/library/nginx");
        let r = parse(&format!("ubuntu@{D}"));
        assert_eq!(r.to_string(), format!("docker.io/library/ubuntu@{D}"));
        assert_eq!(
            parse("ghcr.io/a/b:1").with_tag("2").unwrap().to_string(),
            "ghcr.io/a/b:2"
        );
        let r: Reference = "quay.io/org/x_y.z-w__v:tag_1.0-rc".parse().unwrap();
        assert_eq!(r.repository, "org/x_y.z-w__v");
    }

    #[test]
    fn bad_references_say_why() {
        let cases = [
            ("", "it is empty"),
            ("Acme/App", "must be lowercase: `Acme/App` (try `acme/app`)"),
            ("ghcr.io/Acme/app", "must be lowercase"),
            ("app:", "invalid tag ``"),
            ("app:-x", "invalid tag `-x`"),
            (
                "app@sha256:abc",
                "expected `sha256:` and 64 lowercase hex digits",
            ),
            ("app@md5:abc", "only sha256 digests are supported"),
            ("https://ghcr.io/a", "without a scheme"),
            ("ghcr.io/a//b", "invalid repository name"),
            ("ghcr.io/-a", "invalid repository name"),
        ];
        for (input, want) in cases {
            let err = Reference::parse(input).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want), "{input}: {msg}");
            assert!(msg.starts_with("invalid image reference"), "{msg}");
            assert_eq!(forge_core::exit::code_of(&err), 2);
        }
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=https://x/t, service=x"#),
            Some(Challenge::Bearer {
                realm: "https://x/t".into(),
                service: Some("x".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn locations() {
        let req = "http://127.0.0.1:5000/v2/app/blobs/uploads/";
        assert_eq!(
            resolve_location(req, "/v2/app/blobs/uploads/u1?_state=x"),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/u1?_state=x"
        );
        assert_eq!(
            resolve_location(req, "https://storage.example/up/1"),
            "https://storage.example/up/1"
        );
        assert_eq!(
            resolve_location(req, "u2"),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/u2"
        );
        assert_eq!(
            resolve_location(
                "https://r.example/v2/app/blobs/uploads/?mount=x",
                "//cdn.example/u"
            ),
            "https://cdn.example/u"
        );
        assert_eq!(split_host_port("127.0.0.1:5000"), ("127.0.0.1", Some(5000)));
        assert_eq!(split_host_port("[::1]:5000"), ("::1", Some(5000)));
        assert_eq!(split_host_port("ghcr.io"), ("ghcr.io", None));
        assert_eq!(api_host("docker.io"), DOCKER_HUB_API);
    }

    /// A fake registry with a bearer token service, on loopback: enough of the protocol to test
    /// discovery, scopes, token reuse and renewal, and upload restarts.
    mod fake {
        use std::collections::HashMap;
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::TcpListener;
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Debug)]
        pub struct Seen {
            pub method: String,
            pub target: String,
            pub authorization: Option<String>,
        }

        pub type Reply = (u16, Vec<(String, String)>, Vec<u8>);

        pub struct Server {
            pub host: String,
            pub seen: Arc<Mutex<Vec<Seen>>>,
        }

        /// Serves `route` on a loopback port, one request per connection.
        pub fn serve(route: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let host = listener.local_addr().unwrap().to_string();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let (seen2, host2) = (seen.clone(), host.clone());
            let route = Arc::new(route);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let (seen, route, host) = (seen2.clone(), route.clone(), host2.clone());
                    std::thread::spawn(move || {
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or("").to_string();
                        let target = parts.next().unwrap_or("").to_string();
                        let mut headers = HashMap::new();
                        loop {
                            let mut h = String::new();
                            reader.read_line(&mut h).unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                        let len: usize = headers
                            .get("content-length")
                            .map_or(0, |v| v.parse().unwrap());
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).unwrap();
                        let req = Seen {
                            method,
                            target,
                            authorization: headers.get("authorization").cloned(),
                        };
                        seen.lock().unwrap().push(req.clone());
                        let (status, extra, body) = route(&req, &host);
                        let mut out = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in extra {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        let mut bytes = out.into_bytes();
                        if req.method != "HEAD" {
                            bytes.extend(body);
                        }
                        let _ = stream.write_all(&bytes);
                    });
                }
            });
            Server { host, seen }
        }
    }

    fn client_for(host: &str, user: Option<(&str, &str)>) -> RegistryClient {
        let http = HttpClient::new(
            forge_core::http::RetryPolicy {
                attempts: 3,
                base: Duration::from_millis(5),
                cap: Duration::from_millis(20),
            },
            vec![],
        );
        let vars: Vec<(String, String)> = user
            .map(|(u, p)| {
                vec![
                    ("FORGE_REGISTRY_USERNAME".to_string(), u.to_string()),
                    ("FORGE_REGISTRY_PASSWORD".to_string(), p.to_string()),
                ]
            })
            .unwrap_or_default();
        let creds = Credentials::from_lookup(move |k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        });
        RegistryClient::new(http, host, creds, &Shell::plain()).unwrap()
    }

    fn reply(status: u16, headers: &[(&str, String)]) -> fake::Reply {
        (
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            Vec::new(),
        )
    }

    /// The routes of a bearer registry whose first token stops working after one use.
    fn bearer_registry(put_failures: usize) -> fake::Server {
        let tokens = Mutex::new(0u32);
        let revoked = Mutex::new(Vec::<String>::new());
        let puts = Mutex::new(0usize);
        fake::serve(move |req, host| {
            let path = req.target.split('?').next().unwrap();
            if path == "/token" {
                let good = format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        "u:right-pw-4711"
                    )
                );
                if req.authorization.as_deref() != Some(good.as_str()) {
                    return (401, vec![], br#"{"details":"bad credentials"}"#.to_vec());
                }
                let mut n = tokens.lock().unwrap();
                *n += 1;
                let body = format!(r#"{{"token":"tok-{n}","expires_in":300}}"#);
                return (200, vec![], body.into_bytes());
            }
            let challenge = (
                "WWW-Authenticate",
                format!(r#"Bearer realm="http://{host}/token",service="fake""#),
            );
            let token = req
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_string);
            let valid = match &token {
                Some(t) => !revoked.lock().unwrap().contains(t),
                None => false,
            };
            if !valid {
                return reply(401, &[challenge]);
            }
            // tok-1 works once, then "expires".
            if token.as_deref() == Some("tok-1") {
                revoked.lock().unwrap().push("tok-1".into());
            }
            match (req.method.as_str(), path) {
                ("GET", "/v2/") => reply(200, &[]),
                ("HEAD", p) if p.starts_with("/v2/app/blobs/") => reply(404, &[]),
                ("POST", "/v2/app/blobs/uploads/") => {
                    let n = *puts.lock().unwrap();
                    reply(
                        202,
                        &[(
                            "Location",
                            format!("/v2/app/blobs/uploads/session-{n}?_state=x"),
                        )],
                    )
                }
                ("PUT", p) if p.starts_with("/v2/app/blobs/uploads/session-") => {
                    let mut n = puts.lock().unwrap();
                    *n += 1;
                    if *n <= put_failures {
                        return reply(500, &[]);
                    }
                    let digest = req
                        .target
                        .split("digest=")
                        .nth(1)
                        .unwrap()
                        .replace("%3A", ":");
                    reply(201, &[("Docker-Content-Digest", digest)])
                }
                _ => reply(404, &[]),
            }
        })
    }

    #[test]
    fn bearer_tokens_with_scopes_renewal_and_upload_restart() {
        let server = bearer_registry(1);
        let client = client_for(&server.host, Some(("u", "right-pw-4711")));
        let data = b"blob bytes".to_vec();
        let digest = digest_of(&data);
        let outcome = client
            .push_blob(
                "app",
                &digest,
                Body::bytes(data),
                Some("base"),
                None,
                &Shell::plain(),
            )
            .unwrap();
        assert_eq!(outcome, Outcome::Uploaded);
        let seen = server.seen.lock().unwrap().clone();
        let lines: Vec<String> = seen
            .iter()
            .map(|s| format!("{} {}", s.method, s.target.split('?').next().unwrap()))
            .collect();
        let tokens: Vec<&fake::Seen> = seen
            .iter()
            .filter(|s| s.target.starts_with("/token"))
            .collect();
        // Discovery without credentials, then one token; it "expires" after one use and is
        // renewed once.
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].authorization, None);
        assert_eq!(tokens.len(), 2, "{lines:#?}");
        for t in &tokens {
            assert!(
                t.target.contains("service=fake")
                    && t.target.contains("scope=repository%3Aapp%3Apull%2Cpush")
                    && t.target.contains("scope=repository%3Abase%3Apull"),
                "{}",
                t.target
            );
        }
        // The mount was answered with an ordinary session (202), whose PUT failed; the upload
        // restarted with a new POST after checking with HEAD that the blob had not arrived.
        let count = |m: &str, prefix: &str| {
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("{m} {prefix}")))
                .count()
        };
        assert_eq!(
            count("PUT", "/v2/app/blobs/uploads/session-"),
            2,
            "{lines:#?}"
        );
        // The mount POST twice (refused with the expired token, then accepted), then a fresh one.
        assert_eq!(count("POST", "/v2/app/blobs/uploads/"), 3, "{lines:#?}");
        assert_eq!(count("HEAD", "/v2/app/blobs/"), 2, "{lines:#?}");
        assert!(seen.iter().any(|s| s.method == "POST"
            && s.target.contains("mount=sha256%3A")
            && s.target.contains("from=base")));
        let last_put = seen.iter().rev().find(|s| s.method == "PUT").unwrap();
        assert_eq!(last_put.authorization.as_deref(), Some("Bearer tok-2"));
        assert!(
            last_put.target.contains("?_state=x&digest=sha256"),
            "{}",
            last_put.target
        );
    }

    #[test]
    fn wrong_password_names_the_registry_not_the_password() {
        let server = bearer_registry(0);
        let client = client_for(&server.host, Some(("u", "wrong-pw-0815")));
        let err = client
            .blob_exists("app", &digest_of(b"x"), &Shell::plain())
            .unwrap_err();
        let text = format!("{err:#} {:?}", forge_core::exit::hints(&err));
        assert!(
            text.contains(&format!(
                "authentication to {} failed with user `u` from FORGE_REGISTRY_USERNAME/FORGE_REGISTRY_PASSWORD",
                server.host
            )),
            "{text}"
        );
        assert!(
            text.contains("the token service 127.0.0.1 answered 401"),
            "{text}"
        );
        assert!(!text.contains("wrong-pw-0815"), "{text}");
        assert!(text.contains("docker login"), "{text}");
        assert_eq!(forge_core::exit::code_of(&err), 5);
    }

    #[test]
    fn unreachable_registry_is_a_network_error_naming_the_host() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let http = HttpClient::new(
            forge_core::http::RetryPolicy {
                attempts: 2,
                base: Duration::from_millis(5),
                cap: Duration::from_millis(10),
            },
            vec![],
        );
        let err = RegistryClient::new(
            http,
            &format!("127.0.0.1:{port}"),
            Credentials::none(),
            &Shell::plain(),
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with(&format!("failed to reach the registry 127.0.0.1:{port}")),
            "{text}"
        );
        assert_eq!(forge_core::exit::code_of(&err), 5);
    }

    #[test]
    fn registry_error_bodies() {
        let resp = Response {
            status: 401,
            headers: vec![],
            body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#.to_vec(),
            attempts: 1,
        };
        assert_eq!(
            status_and_detail(&resp),
            "401 Unauthorized: UNAUTHORIZED: authentication required"
        );
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}

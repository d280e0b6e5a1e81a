//! Registry credentials: where a user's login for a registry is found.
//!
//! People log in with the tools they already have, so we read what those tools wrote rather than
//! inventing a login of our own. For a registry, in this order:
//!
//! 1. `FORGE_REGISTRY_USERNAME` / `FORGE_REGISTRY_PASSWORD` — explicit, for CI. They apply to the
//!    registry named by `FORGE_REGISTRY`, else to the registries the caller names with
//!    [`Credentials::env_registries`] (the push target), else to every registry. Scoping matters:
//!    a base image pulled from Docker Hub must not be sent a GHCR token.
//! 2. Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//!    `auths` (the base64 `auth` written by `docker login`, or `username`/`password`, or an
//!    `identitytoken`), `credHelpers` and `credsStore` — read through the `docker_credential`
//!    crate, which runs `docker-credential-NAME get` itself (the one subprocess of the suite not run
//!    by `forge_core::process::Cmd`: the helper protocol is that crate's job).
//! 3. Podman's `auth.json` (`REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
//!    else `~/.config/containers/auth.json`), same format.
//! 4. For `ghcr.io`: `GITHUB_TOKEN`, as user `GITHUB_ACTOR` (or `x-access-token`) — last, because
//!    every Actions job has one, while a `docker login ghcr.io` with a personal token was deliberate.
//!
//! Docker Hub goes by several names (`docker.io`, `index.docker.io`, `registry-1.docker.io`, and
//! `https://index.docker.io/v1/` as docker writes it in `config.json`); all are tried.
//!
//! Passwords and tokens become [`Secret`]s the moment they are read. Lookups happen only when a
//! registry asks for credentials (a 401), so a registry that needs none never causes a helper to
//! run. The environment is read through a lookup function so tests can point `DOCKER_CONFIG`
//! somewhere without changing the process environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use docker_credential::{CredentialRetrievalError, DockerCredential};
use forge_core::exit::{usage, ErrorKind, ResultExt};
use forge_core::secret::Secret;

/// The canonical name of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";

/// The names Docker Hub goes by, canonical first, then as `docker login` writes it.
pub const DOCKER_HUB_ALIASES: [&str; 4] = [
    "https://index.docker.io/v1/",
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
];

/// Whether a registry name means Docker Hub.
pub fn is_docker_hub(registry: &str) -> bool {
    let r = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = r.split('/').next().unwrap_or(r);
    matches!(
        host.to_ascii_lowercase().as_str(),
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Registry names as one spelling: Docker Hub aliases become `docker.io`, hosts lowercase.
pub fn normalize_registry(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB.to_string()
    } else {
        registry
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase()
    }
}

/// A credential for one registry.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A user name and password (or token used as a password).
    Basic { username: String, password: Secret },
    /// Docker's `identitytoken`: an OAuth2 refresh token for the registry's token service.
    IdentityToken(Secret),
}

/// A credential and where it came from (for messages: "credentials from …").
#[derive(Clone, Debug)]
pub struct Found {
    pub credential: Credential,
    /// Where it was found, e.g. "docker config `/home/me/.docker/config.json`".
    pub source: String,
}

impl Found {
    /// The user name, if the credential has one (never the password).
    pub fn username(&self) -> Option<&str> {
        match &self.credential {
            Credential::Basic { username, .. } => Some(username),
            Credential::IdentityToken(_) => None,
        }
    }
}

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where credentials are looked up. Cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    env: EnvLookup,
    env_registries: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("env_registries", &self.env_registries)
            .finish()
    }
}

impl Credentials {
    /// Credentials from the process environment and the usual files.
    pub fn from_env() -> Credentials {
        Credentials::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Credentials with the environment read through `lookup` (tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Credentials {
            env: Arc::new(lookup),
            env_registries: Vec::new(),
        }
    }

    /// No credentials at all (anonymous access).
    pub fn none() -> Credentials {
        Credentials::from_lookup(|_| None)
    }

    /// The registries `FORGE_REGISTRY_USERNAME`/`PASSWORD` apply to when `FORGE_REGISTRY` is not
    /// set (normally the push target).
    pub fn env_registries(mut self, registries: Vec<String>) -> Credentials {
        self.env_registries = registries.iter().map(|r| normalize_registry(r)).collect();
        self
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn docker_config_path(&self) -> Option<PathBuf> {
        match self.var("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => self
                .var("HOME")
                .map(|home| PathBuf::from(home).join(".docker/config.json")),
        }
    }

    /// Podman's auth file: `REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// else `~/.config/containers/auth.json` (the first that exists).
    pub fn podman_auth_path(&self) -> Option<PathBuf> {
        if let Some(file) = self.var("REGISTRY_AUTH_FILE") {
            return Some(PathBuf::from(file));
        }
        let candidates = [
            self.var("XDG_RUNTIME_DIR")
                .map(|d| PathBuf::from(d).join("containers/auth.json")),
            self.var("HOME")
                .map(|h| PathBuf::from(h).join(".config/containers/auth.json")),
        ];
        candidates.into_iter().flatten().find(|p| p.is_file())
    }

    /// The credential for `registry` (`host[:port]`, any Docker Hub alias), or `None` when no
    /// source has one. Errors are for sources that exist but are broken (unparsable file, failing
    /// credential helper).
    pub fn lookup(&self, registry: &str) -> Result<Option<Found>> {
        let registry = normalize_registry(registry);
        if let Some(found) = self.forge_env_credential(&registry)? {
            return Ok(Some(found));
        }
        if let Some(path) = self.docker_config_path() {
            if let Some(found) = from_auth_file(&path, &registry, "docker config")? {
                return Ok(Some(found));
            }
        }
        if let Some(path) = self.podman_auth_path() {
            if let Some(found) = from_auth_file(&path, &registry, "podman auth file")? {
                return Ok(Some(found));
            }
        }
        if registry == "ghcr.io" {
            if let Some(token) = self.var("GITHUB_TOKEN") {
                let username = self
                    .var("GITHUB_ACTOR")
                    .unwrap_or_else(|| "x-access-token".to_string());
                return Ok(Some(Found {
                    credential: Credential::Basic {
                        username,
                        password: Secret::new(token),
                    },
                    source: "GITHUB_TOKEN".to_string(),
                }));
            }
        }
        Ok(None)
    }

    fn forge_env_credential(&self, registry: &str) -> Result<Option<Found>> {
        const ENV_PAIR_HINT: &str =
            "set both, or neither to use the login of `docker login` or `podman login`";
        let user = self.var("FORGE_REGISTRY_USERNAME");
        let password = self.var("FORGE_REGISTRY_PASSWORD");
        let (username, password) = match (user, password) {
            (None, None) => return Ok(None),
            (Some(u), Some(p)) => (u, Secret::new(p)),
            (Some(_), None) => {
                return Err(usage(
                    "FORGE_REGISTRY_USERNAME is set but FORGE_REGISTRY_PASSWORD is not",
                ))
                .hint(ENV_PAIR_HINT)
            }
            (None, Some(p)) => {
                // Register before complaining, so the value cannot leak through later output.
                let _ = Secret::new(p);
                return Err(usage(
                    "FORGE_REGISTRY_PASSWORD is set but FORGE_REGISTRY_USERNAME is not",
                ))
                .hint(ENV_PAIR_HINT);
            }
        };
        let applies = match self.var("FORGE_REGISTRY") {
            Some(scope) => normalize_registry(&scope) == registry,
            None => {
                self.env_registries.is_empty() || self.env_registries.iter().any(|r| r == registry)
            }
        };
        if !applies {
            return Ok(None);
        }
        Ok(Some(Found {
            credential: Credential::Basic { username, password },
            source: "FORGE_REGISTRY_USERNAME/FORGE_REGISTRY_PASSWORD".to_string(),
        }))
    }

    /// One sentence on where credentials are looked up, for `hint:` lines.
    pub fn how_found(&self, registry: &str) -> String {
        let registry = normalize_registry(registry);
        let docker = self
            .docker_config_path()
            .map(|p| format!("`{}`", p.display()))
            .unwrap_or_else(|| "docker's config.json".to_string());
        let login = if registry == DOCKER_HUB {
            "docker login".to_string()
        } else {
            format!("docker login {registry}")
        };
        let mut text = format!(
            "credentials for {registry} are read from FORGE_REGISTRY_USERNAME and \
             FORGE_REGISTRY_PASSWORD, then {docker} (`auths`, `credHelpers`, `credsStore`; run \
             `{login}`), then podman's auth.json (REGISTRY_AUTH_FILE)"
        );
        if registry == "ghcr.io" {
            text.push_str(", then GITHUB_TOKEN (with `packages: write` to push)");
        }
        text
    }
}

/// The server names to try in a config file for a registry.
fn server_keys(registry: &str) -> Vec<String> {
    if registry == DOCKER_HUB {
        DOCKER_HUB_ALIASES.iter().map(|s| s.to_string()).collect()
    } else {
        vec![registry.to_string(), format!("https://{registry}")]
    }
}

/// Looks a registry up in a docker-format auth file (docker's config.json or podman's auth.json).
fn from_auth_file(path: &Path, registry: &str, what: &str) -> Result<Option<Found>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(anyhow::Error::new(e))
                .with_context(|| format!("failed to read the {what} `{}`", path.display()))
        }
    };
    // Parse it ourselves first: docker_credential reports a broken file without saying why.
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .with_context(|| format!("failed to parse the {what} `{}`", path.display()))
        .kind(ErrorKind::Usage)?;
    for server in server_keys(registry) {
        match docker_credential::get_credential_from_reader(bytes.as_slice(), &server) {
            Ok(credential) => {
                let credential = match credential {
                    DockerCredential::UsernamePassword(username, password) => Credential::Basic {
                        username,
                        password: Secret::new(password),
                    },
                    DockerCredential::IdentityToken(token) => {
                        Credential::IdentityToken(Secret::new(token))
                    }
                };
                return Ok(Some(Found {
                    credential,
                    source: format!("{what} `{}`", path.display()),
                }));
            }
            Err(CredentialRetrievalError::NoCredentialConfigured) => continue,
            Err(CredentialRetrievalError::HelperFailure {
                helper,
                stdout,
                stderr,
            }) => {
                // Helpers answer "credentials not found in native keychain" for unknown servers.
                let said = format!("{stdout}\n{stderr}");
                if said.to_ascii_lowercase().contains("credentials not found") {
                    continue;
                }
                let said = said.trim();
                return Err(anyhow::anyhow!(
                    "the credential helper `{helper}` (configured in `{}`) failed for `{server}`{}",
                    path.display(),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", forge_core::secret::redact(said))
                    }
                ))
                .kind(ErrorKind::Usage);
            }
            Err(CredentialRetrievalError::HelperCommunicationError) => {
                return Err(anyhow::anyhow!(
                    "could not run the credential helper configured for `{server}` in `{}`",
                    path.display()
                ))
                .kind(ErrorKind::MissingTool)
                .hint(
                    "install the `docker-credential-NAME` program named by `credHelpers` or \
                     `credsStore`, or remove that entry",
                );
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "invalid credentials for `{server}` in the {what} `{}`: {}",
                    path.display(),
                    e.to_string().to_lowercase()
                ))
                .kind(ErrorKind::Usage);
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::collections::HashMap;

    fn creds(vars: &[(&str, &str)]) -> Credentials {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Credentials::from_lookup(move |k| map.get(k).cloned())
    }

    fn basic(found: &Found) -> (String, String) {
        match &found.credential {
            Credential::Basic { username, password } => {
                (username.clone(), password.expose().to_string())
            }
            Credential::IdentityToken(_) => panic!("identity token"),
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn docker_config_auths_including_docker_hub_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::json!({"auths": {
                "https://index.docker.io/v1/": {"auth": b64("hubuser:hub-pass-1")},
                "127.0.0.1:5000": {"auth": b64("me:local-pass-2")},
                "quay.io": {"identitytoken": "refresh-token-3"},
            }})
            .to_string(),
        )
        .unwrap();
        let c = creds(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())]);
        for hub in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            let found = c.lookup(hub).unwrap().expect(hub);
            assert_eq!(basic(&found), ("hubuser".into(), "hub-pass-1".into()));
            assert!(
                found.source.starts_with("docker config `"),
                "{}",
                found.source
            );
        }
        let found = c.lookup("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(basic(&found), ("me".into(), "local-pass-2".into()));
        assert!(matches!(
            c.lookup("quay.io").unwrap().unwrap().credential,
            Credential::IdentityToken(_)
        ));
        assert!(c.lookup("ghcr.io").unwrap().is_none());
        // Nothing printable carries the password.
        let shown = format!("{:?}", c.lookup("127.0.0.1:5000").unwrap());
        assert!(!shown.contains("local-pass-2"), "{shown}");
    }

    /// Runs `child` (an ignored test of this binary) with `dir` prepended to PATH: the helper
    /// protocol spawns `docker-credential-NAME` from the process PATH, which a threaded test
    /// must not change in its own process.
    fn run_child_with_path(child: &str, dir: &Path) -> std::process::Output {
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                child,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PATH", path)
            .env("FORGE_HELPER_TEST_DIR", dir)
            .output()
            .unwrap()
    }

    #[test]
    fn credential_helpers_and_store_are_run() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-forgefake");
        std::fs::write(
            &helper,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\ncase \"$server\" in\n  \
             registry.example) echo '{\"Username\":\"helped\",\"Secret\":\"helper-pass-5\"}' ;;\n  \
             https://index.docker.io/v1/) echo '{\"Username\":\"hub\",\"Secret\":\"store-pass-9\"}' ;;\n  \
             broken.example) echo 'keychain locked' >&2; exit 1 ;;\n  \
             *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credHelpers": {"registry.example": "forgefake", "broken.example": "forgefake"},
                "credsStore": "forgefake"}"#,
        )
        .unwrap();
        let out = run_child_with_path("auth::tests::helper_child", dir.path());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }

    #[test]
    #[ignore = "run by credential_helpers_and_store_are_run with the helper on PATH"]
    fn helper_child() {
        let Some(dir) = std::env::var_os("FORGE_HELPER_TEST_DIR") else {
            return;
        };
        let c = creds(&[("DOCKER_CONFIG", dir.to_str().unwrap())]);
        let found = c.lookup("registry.example").unwrap().unwrap();
        assert_eq!(basic(&found), ("helped".into(), "helper-pass-5".into()));
        // credsStore serves Docker Hub under docker's own key.
        let found = c.lookup("docker.io").unwrap().unwrap();
        assert_eq!(basic(&found), ("hub".into(), "store-pass-9".into()));
        // "not found" from the store is "no credentials", not an error.
        assert!(c.lookup("quay.io").unwrap().is_none());
        let err = format!("{:#}", c.lookup("broken.example").unwrap_err());
        assert!(
            err.contains("credential helper `docker-credential-forgefake`")
                && err.contains("keychain locked"),
            "{err}"
        );
    }

    #[test]
    fn missing_credential_helper_is_a_missing_tool() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credsStore": "forge-definitely-missing"}"#,
        )
        .unwrap();
        let c = creds(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())]);
        let err = c.lookup("quay.io").unwrap_err();
        assert_eq!(forge_core::exit::code_of(&err), 6, "{err:#}");
        assert!(err.to_string().contains("credential helper"), "{err}");
    }

    #[test]
    fn podman_auth_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        std::fs::write(
            &file,
            serde_json::json!({"auths": {"quay.io": {"auth": b64("pod:pod-pass-6")}}}).to_string(),
        )
        .unwrap();
        let c = creds(&[
            ("HOME", "/nonexistent"),
            ("REGISTRY_AUTH_FILE", file.to_str().unwrap()),
        ]);
        let found = c.lookup("quay.io").unwrap().unwrap();
        assert_eq!(basic(&found), ("pod".into(), "pod-pass-6".into()));
        assert!(found.source.starts_with("podman auth file"));
    }

    #[test]
    fn env_credentials_are_scoped() {
        let c = creds(&[
            ("FORGE_REGISTRY_USERNAME", "ci"),
            ("FORGE_REGISTRY_PASSWORD", "env-pass-7"),
        ]);
        assert!(c.lookup("docker.io").unwrap().is_some());
        let scoped = c.clone().env_registries(vec!["ghcr.io".into()]);
        assert!(scoped.lookup("docker.io").unwrap().is_none());
        let found = scoped.lookup("ghcr.io").unwrap().unwrap();
        assert_eq!(basic(&found), ("ci".into(), "env-pass-7".into()));
        let c = creds(&[
            ("FORGE_REGISTRY", "registry-1.docker.io"),
            ("FORGE_REGISTRY_USERNAME", "ci"),
            ("FORGE_REGISTRY_PASSWORD", "env-pass-7"),
        ]);
        assert!(c.lookup("index.docker.io").unwrap().is_some());
        assert!(c.lookup("ghcr.io").unwrap().is_none());
        let half = creds(&[("FORGE_REGISTRY_USERNAME", "ci")]);
        assert_eq!(
            forge_core::exit::code_of(&half.lookup("x.io").unwrap_err()),
            2
        );
    }

    #[test]
    fn github_token_for_ghcr_only_and_last() {
        let c = creds(&[("GITHUB_TOKEN", "ghs_token_8"), ("GITHUB_ACTOR", "octocat")]);
        let found = c.lookup("ghcr.io").unwrap().unwrap();
        assert_eq!(basic(&found), ("octocat".into(), "ghs_token_8".into()));
        assert!(c.lookup("quay.io").unwrap().is_none());
        let c = creds(&[("GITHUB_TOKEN", "ghs_token_8")]);
        assert_eq!(
            basic(&c.lookup("ghcr.io").unwrap().unwrap()).0,
            "x-access-token"
        );
    }

    #[test]
    fn broken_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        let c = creds(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())]);
        let err = format!("{:#}", c.lookup("quay.io").unwrap_err());
        assert!(err.contains("failed to parse the docker config `"), "{err}");
        assert!(err.contains("config.json`"), "{err}");
    }

    #[test]
    fn hub_aliases() {
        for a in DOCKER_HUB_ALIASES {
            assert!(is_docker_hub(a), "{a}");
            assert_eq!(normalize_registry(a), "docker.io");
        }
        assert_eq!(normalize_registry("GHCR.io"), "ghcr.io");
        assert!(!is_docker_hub("ghcr.io"));
        let c = creds(&[("DOCKER_CONFIG", "/d")]);
        let how = c.how_found("index.docker.io");
        assert!(
            how.contains("`/d/config.json`") && how.contains("`docker login`"),
            "{how}"
        );
    }
}

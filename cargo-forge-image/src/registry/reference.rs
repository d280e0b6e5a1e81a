//! Image references: what users write (`[registry/]repo[:tag][@sha256:…]`), read the way docker
//! reads it — Docker Hub by default with `library/` for official images, a first component with
//! a `.` or a `:` (or `localhost`) is a registry, repository names are lowercase — and the
//! checks of repository names, tags and digests, whose errors say what is wrong (exit code 2).
//!
//! The split into registry and repository is oci-spec's (`oci_spec::distribution::Reference`,
//! the distribution spec's grammar, as docker reads it); the checks are ours, because they are
//! stricter (sha256 digests only, lowercase hex) and their errors say what is wrong where the
//! grammar says only "invalid reference format". Our defaults stay: `docker.io` for a name
//! without a host, whatever alias of Docker Hub was written, and no tag (the registry is asked
//! for `latest`) where none was written.
//!
//! A module of its own because every command reads references (tags, bases, repositories of a
//! release) without talking to a registry.

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use forge_core::exit::usage;
use serde::{Deserialize, Serialize};

use crate::auth::{normalize_registry, DOCKER_HUB};

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
        // Which part is the registry and which the repository is the distribution grammar's
        // call: oci-spec's parser. When it refuses the text, ours splits it all the same, so
        // that the checks below say what is wrong in our words.
        let (registry, path, refused) = match oci_spec::distribution::Reference::from_str(text) {
            Ok(parsed) => (
                parsed.registry().to_ascii_lowercase(),
                parsed.repository().to_string(),
                None,
            ),
            Err(e) => {
                let (registry, path) = split_name(name);
                (registry, path, Some(e))
            }
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
        // The grammar has no room for an IPv6 literal host (`[::1]:5000/app`), which a registry
        // on loopback may have (the HTTP client reads `[::1]` as loopback): ours reads it, as it
        // did before the grammar was oci-spec's. Anything else the grammar refuses is refused.
        if let Some(refused) = refused {
            if !registry.starts_with('[') {
                return Err(invalid(&format!(
                    "`{name}` is not `[host[:port]/]repository` as the OCI distribution spec \
                     writes it ({refused})"
                )));
            }
        }
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

/// `[host[:port]/]repository` split the way docker splits it: a first component with a `.` or
/// a `:` (or `localhost`) is the registry, else the name is on Docker Hub. For what oci-spec's
/// grammar refuses (see [`Reference::parse`]).
fn split_name(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_ascii_lowercase(), path.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
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

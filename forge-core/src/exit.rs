//! Exit codes and error kinds.
//!
//! Errors are `anyhow::Error`s with context all the way down. A few places know what *kind* of
//! failure they are reporting (bad input, a failed build, a failed check, the network); they tag
//! the error with [`ResultExt::kind`], and `main` turns the kind into the documented exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other error |
//! | 2 | bad command line, configuration or metadata (nothing was done) |
//! | 3 | the build (cargo, zigbuild, cross) failed |
//! | 4 | a check of the result failed (lintian, install test, verification) |
//! | 5 | a network or remote host failed (registry, S3, release host) |
//! | 6 | a required external tool is missing |
//! | 130 | interrupted |
//!
//! Hints ("what to do next") can be attached the same way with [`ResultExt::hint`]; they are
//! printed after the error as `hint:` lines.

use std::fmt;

/// What kind of failure an error is, and so which exit code it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Usage,
    Build,
    Check,
    Network,
    MissingTool,
}

impl ErrorKind {
    pub fn code(self) -> u8 {
        match self {
            ErrorKind::Usage => 2,
            ErrorKind::Build => 3,
            ErrorKind::Check => 4,
            ErrorKind::Network => 5,
            ErrorKind::MissingTool => 6,
        }
    }
}

/// A marker in an error chain: the wrapped error with a kind and hints. It displays as the wrapped
/// error's own message and continues the chain with the wrapped error's causes, so tagging an
/// error does not change what the user reads.
#[derive(Debug)]
struct Tagged {
    kind: Option<ErrorKind>,
    hints: Vec<String>,
    inner: anyhow::Error,
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for Tagged {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.chain().nth(1)
    }
}

/// Adds an exit-code kind or a hint to an error.
pub trait ResultExt<T> {
    /// Tags the error with a kind (the outermost kind in the chain wins).
    fn kind(self, kind: ErrorKind) -> anyhow::Result<T>;
    /// Attaches a `hint:` line.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn kind(self, kind: ErrorKind) -> anyhow::Result<T> {
        self.map_err(|e| with_kind(e.into(), kind))
    }

    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| with_hint(e.into(), hint.into()))
    }
}

/// Tags an error with a kind, keeping its message as the top line.
pub fn with_kind(err: anyhow::Error, kind: ErrorKind) -> anyhow::Error {
    retag(err, Some(kind), None)
}

/// Attaches a hint to an error, keeping its message as the top line.
pub fn with_hint(err: anyhow::Error, hint: String) -> anyhow::Error {
    retag(err, None, Some(hint))
}

fn retag(err: anyhow::Error, kind: Option<ErrorKind>, hint: Option<String>) -> anyhow::Error {
    let kind = kind.or_else(|| kind_of(&err));
    let mut all_hints = hints(&err);
    all_hints.extend(hint);
    anyhow::Error::new(Tagged {
        kind,
        hints: all_hints,
        inner: err,
    })
}

/// The kind of an error, if any part of its chain was tagged.
pub fn kind_of(err: &anyhow::Error) -> Option<ErrorKind> {
    err.chain()
        .filter_map(|c| c.downcast_ref::<Tagged>())
        .find_map(|t| t.kind)
}

/// The hints attached anywhere in the chain.
pub fn hints(err: &anyhow::Error) -> Vec<String> {
    err.chain()
        .filter_map(|c| c.downcast_ref::<Tagged>())
        .flat_map(|t| t.hints.iter().cloned())
        .fold(Vec::new(), |mut acc, h| {
            if !acc.contains(&h) {
                acc.push(h);
            }
            acc
        })
}

/// The process exit code for an error.
pub fn code_of(err: &anyhow::Error) -> u8 {
    kind_of(err).map_or(1, ErrorKind::code)
}

/// Shorthand: a usage/config error with a message.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    with_kind(anyhow::Error::msg(message.into()), ErrorKind::Usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn kind_and_hint_survive_context() {
        let r: anyhow::Result<()> = Err(anyhow::anyhow!("inner"));
        let err = r
            .context("middle")
            .kind(ErrorKind::Check)
            .hint("do this")
            .context("outer")
            .unwrap_err();
        assert_eq!(code_of(&err), 4);
        assert_eq!(hints(&err), vec!["do this".to_string()]);
        let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
        assert_eq!(chain, ["outer", "middle", "inner"]);
    }

    #[test]
    fn untagged_is_one() {
        assert_eq!(code_of(&anyhow::anyhow!("x")), 1);
        assert_eq!(code_of(&usage("bad")), 2);
    }
}

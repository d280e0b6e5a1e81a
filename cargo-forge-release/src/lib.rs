//! `cargo forge-release` (skeleton: the command parses the common flags; its work lands with its issue).

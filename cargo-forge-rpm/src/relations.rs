//! Relations (`Requires`, `Provides`, ... and the weak ones) written as cargo-generate-rpm
//! writes them: `name = "*"`, `name = ">= 1.2"`, or several comparisons separated by commas
//! (`">= 1.2, < 2"`, one relation each). The operator and the version are separated by a space,
//! and a bare version is refused (as cargo-generate-rpm does): `= 1.2` says what is meant.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::writer::{DepOp, Dependency};

/// The relations of one `name = "requirement"` entry.
pub fn parse(name: &str, req: &str) -> Result<Vec<Dependency>> {
    if name.trim().is_empty() || name.contains(char::is_whitespace) {
        bail!("a package name must be one word");
    }
    let req = req.trim();
    if req == "*" || req.is_empty() {
        return Ok(vec![Dependency::any(name)]);
    }
    req.split(',')
        .map(|part| {
            let part = part.trim();
            let Some((op, version)) = part.split_once(' ') else {
                bail!("`{part}` is not `OPERATOR VERSION` (e.g. `>= 1.2`, with a space), nor `*`");
            };
            let op = match op {
                "<" => DepOp::Lt,
                "<=" => DepOp::Le,
                "=" | "==" => DepOp::Eq,
                ">=" => DepOp::Ge,
                ">" => DepOp::Gt,
                other => bail!("unknown comparison `{other}`: expected <, <=, =, >= or >"),
            };
            let version = version.trim();
            if version.is_empty() || version.contains(char::is_whitespace) {
                bail!("`{part}` has no single version after the comparison");
            }
            Ok(Dependency {
                name: name.to_string(),
                op: Some((op, version.to_string())),
                pre: false,
            })
        })
        .collect()
}

/// Every relation of a table, in name order.
pub fn parse_table(table: Option<&BTreeMap<String, String>>) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    for (name, req) in table.into_iter().flatten() {
        out.extend(parse(name, req)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_rpm_forms() {
        assert_eq!(parse("bash", "*").unwrap(), [Dependency::any("bash")]);
        let two = parse("filesystem", ">= 3, < 4.1").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].op, Some((DepOp::Ge, "3".into())));
        assert_eq!(two[1].op, Some((DepOp::Lt, "4.1".into())));
        assert_eq!(
            parse("x", "= 1.2-3").unwrap()[0].op,
            Some((DepOp::Eq, "1.2-3".into()))
        );
        for bad in [">=3", "1.2", "~> 1", ">= "] {
            assert!(parse("x", bad).is_err(), "{bad}");
        }
    }
}

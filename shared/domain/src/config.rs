//! Reading configuration from environment variables.
//!
//! Handlers read their settings through [`EnvSource`] rather than `std::env` directly. In Lambda the source is the
//! process environment; the local stack hosts several functions in one process and gives each one the variables
//! its `template.yaml` definition resolves to.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing environment variable {key}; set it (the SAM template does this in AWS)")]
    Missing { key: String },
    #[error("environment variable {key} is invalid: {reason}")]
    Invalid { key: String, reason: String },
}

pub trait EnvSource {
    fn var(&self, key: &str) -> Option<String>;

    fn required(&self, key: &str) -> Result<String, ConfigError> {
        match self.var(key) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::Missing { key: key.to_owned() }),
        }
    }

    fn parsed_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.var(key) {
            Some(v) if !v.trim().is_empty() => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                key: key.to_owned(),
                reason: e.to_string(),
            }),
            _ => Ok(default),
        }
    }

    /// A comma-separated list, with `default` when the variable is unset or empty.
    fn list_or(&self, key: &str, default: &[&str]) -> Vec<String> {
        match self.var(key) {
            Some(v) if !v.trim().is_empty() => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => default.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// Parses "true"/"false" (and 1/0, yes/no) the way CloudFormation parameters are usually written.
pub fn parse_bool(key: &str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            key: key.to_owned(),
            reason: format!("expected true or false, got {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn required_rejects_missing_and_blank() {
        let e = env(&[("A", " ")]);
        assert_eq!(e.required("A"), Err(ConfigError::Missing { key: "A".into() }));
        assert_eq!(e.required("B"), Err(ConfigError::Missing { key: "B".into() }));
    }

    #[test]
    fn parsed_or_reports_the_key() {
        let e = env(&[("N", "x")]);
        let err = e.parsed_or::<u64>("N", 1).unwrap_err();
        assert!(err.to_string().contains("N"), "{err}");
        assert_eq!(env(&[]).parsed_or::<u64>("N", 7), Ok(7));
    }

    #[test]
    fn lists_and_bools() {
        let e = env(&[("L", "/a, /b,,")]);
        assert_eq!(e.list_or("L", &["/z"]), vec!["/a", "/b"]);
        assert_eq!(e.list_or("M", &["/z"]), vec!["/z"]);
        assert_eq!(parse_bool("X", Some("TRUE".into()), false), Ok(true));
        assert!(parse_bool("X", Some("maybe".into()), false).is_err());
    }
}

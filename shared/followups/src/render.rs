//! Message templates: text with `{{variable}}` and `{{variable|fallback}}` placeholders.
//!
//! Templates are checked when a recipe is loaded (every placeholder must name a variable the recipe's subject
//! provides), so a typo fails the recipe, not a message. A variable without a value renders its fallback; without a
//! fallback the message cannot be rendered and the step is suppressed with the variable named.

use std::collections::BTreeMap;

use domain::event::EntityKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var { name: String, fallback: Option<String> },
}

/// A parsed template; serialises back to its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Variables every recipe can use.
const COMMON: &[&str] = &["customer.name", "customer.firstName", "company.name", "bookingUrl"];

/// Variables ServiceTitan may leave empty (nullable in its OpenAPI documents, or derived from a field that is): a
/// template must give each a fallback, so a missing value words around itself instead of skipping the step.
/// `company.name` and `bookingUrl` come from the tenant's settings, which guarantee them where a recipe needs them.
pub const MAY_BE_EMPTY: &[&str] = &[
    "customer.name",
    "customer.firstName",
    "estimate.name",
    "invoice.number",
    "invoice.dueDate",
    "invoice.amount",
    "job.number",
];

/// Variables of one subject kind.
pub fn variables(subject: EntityKind) -> Vec<&'static str> {
    let own: &[&str] = match subject {
        EntityKind::Estimate => &["estimate.name", "estimate.amount"],
        EntityKind::Invoice => &["invoice.number", "invoice.amount", "invoice.balance", "invoice.dueDate"],
        EntityKind::Appointment => &[
            "appointment.date",
            "appointment.time",
            "appointment.window",
            "job.number",
        ],
        EntityKind::Job => &["job.number"],
        _ => &[],
    };
    COMMON.iter().chain(own).copied().collect()
}

/// Made-up values for every variable of `subject`, to show a template as a customer would read it before anything
/// is sent; the company name and booking link are the tenant's own.
pub fn sample_vars(subject: EntityKind, company: &str, booking_url: &str) -> BTreeMap<&'static str, String> {
    variables(subject)
        .into_iter()
        .map(|name| {
            let value = match name {
                "customer.name" => "Maria Lopez",
                "customer.firstName" => "Maria",
                "company.name" => company,
                "bookingUrl" => booking_url,
                "estimate.name" => "Two-stage heat pump, 4 ton",
                "estimate.amount" => "8,450.00",
                "invoice.number" => "10482",
                "invoice.amount" => "1,275.00",
                "invoice.balance" => "1,275.00",
                "invoice.dueDate" => "December 1",
                "appointment.date" => "Thursday, December 10",
                "appointment.time" => "8:00 AM",
                "appointment.window" => "8:00 AM–12:00 PM",
                "job.number" => "40917",
                _ => "sample",
            };
            (name, value.to_owned())
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed {{{{ at byte {0}")]
    Unclosed(usize),
    #[error("unknown variable {name:?}; this recipe can use {allowed}")]
    Unknown { name: String, allowed: String },
    #[error("the template is empty")]
    Empty,
    #[error("the template is longer than {0} characters")]
    TooLong(usize),
}

/// Longest template accepted (an email body, not a novel).
pub const MAX_TEMPLATE_CHARS: usize = 4000;

impl Template {
    /// Parses `source`, accepting only `allowed` variable names.
    pub fn parse(source: &str, allowed: &[&str]) -> Result<Self, TemplateError> {
        if source.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        if source.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(TemplateError::TooLong(MAX_TEMPLATE_CHARS));
        }
        let mut parts = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(TemplateError::Unclosed(offset + start))?;
            let inner = &after[..end];
            let (name, fallback) = match inner.split_once('|') {
                Some((n, f)) => (n.trim(), Some(f.to_owned())),
                None => (inner.trim(), None),
            };
            if !allowed.contains(&name) {
                return Err(TemplateError::Unknown {
                    name: name.to_owned(),
                    allowed: allowed.join(", "),
                });
            }
            parts.push(Part::Var {
                name: name.to_owned(),
                fallback,
            });
            let consumed = start + 2 + end + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template uses `name` (with or without a fallback).
    pub fn uses(&self, name: &str) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var { name: n, .. } if n == name))
    }

    /// The variables used without a fallback.
    pub fn unguarded(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { name, fallback: None } => Some(name.as_str()),
            _ => None,
        })
    }

    /// Renders with `vars`; `Err(name)` for the first variable with neither a value nor a fallback.
    pub fn render(&self, vars: &BTreeMap<&str, String>) -> Result<String, String> {
        let mut out = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            let piece = match part {
                Part::Text(t) => t.as_str(),
                Part::Var { name, fallback } => match vars.get(name.as_str()).filter(|v| !v.trim().is_empty()) {
                    Some(v) => v.as_str(),
                    None => match fallback {
                        Some(f) => f.as_str(),
                        None => return Err(name.clone()),
                    },
                },
            };
            // Fallbacks such as `{{estimate.name|}}` can leave doubled spaces or a space before punctuation.
            for c in piece.chars() {
                if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
                    continue;
                }
                if matches!(c, ',' | '.' | ')' | '!' | '?') && out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
            }
        }
        let end = out.trim_end().len();
        out.truncate(end);
        let start = out.len() - out.trim_start().len();
        out.drain(..start);
        Ok(out)
    }
}

impl Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// Templates are deserialised as plain text and checked by [`Template::parse`] during recipe validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateSource(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_values_and_fallbacks() {
        let allowed = variables(EntityKind::Estimate);
        let t = Template::parse(
            "Hi {{customer.firstName|there}}, about {{estimate.name|your estimate}} (${{estimate.amount}}).",
            &allowed,
        )
        .unwrap();
        let mut vars = BTreeMap::new();
        vars.insert("estimate.amount", "1,249.00".to_owned());
        assert_eq!(t.render(&vars).unwrap(), "Hi there, about your estimate ($1,249.00).");
        vars.insert("customer.firstName", "Mary".to_owned());
        vars.insert("estimate.name", "AC replacement".to_owned());
        assert_eq!(t.render(&vars).unwrap(), "Hi Mary, about AC replacement ($1,249.00).");
        vars.remove("estimate.amount");
        assert_eq!(t.render(&vars).unwrap_err(), "estimate.amount");
        assert!(t.uses("estimate.amount") && !t.uses("bookingUrl"));
    }

    #[test]
    fn empty_fallbacks_leave_tidy_text() {
        let t = Template::parse(
            "the estimate {{estimate.name|}}, sent.",
            &variables(EntityKind::Estimate),
        )
        .unwrap();
        assert_eq!(t.render(&BTreeMap::new()).unwrap(), "the estimate, sent.");
    }

    #[test]
    fn rejects_unknown_variables_and_broken_braces() {
        let allowed = variables(EntityKind::Invoice);
        assert!(matches!(
            Template::parse("{{estimate.amount}}", &allowed),
            Err(TemplateError::Unknown { .. })
        ));
        assert_eq!(
            Template::parse("Hi {{customer.name", &allowed),
            Err(TemplateError::Unclosed(3))
        );
        assert_eq!(Template::parse("  ", &allowed), Err(TemplateError::Empty));
        assert!(Template::parse("{{ invoice.balance }} due", &allowed).is_ok());
    }

    #[test]
    fn every_variable_has_a_sample() {
        for kind in [
            EntityKind::Estimate,
            EntityKind::Invoice,
            EntityKind::Appointment,
            EntityKind::Job,
        ] {
            let vars = sample_vars(kind, "Lone Star", "https://book.example/x");
            for name in variables(kind) {
                assert!(vars.get(name).is_some_and(|v| v != "sample" && !v.is_empty()), "{name}");
            }
        }
    }
}

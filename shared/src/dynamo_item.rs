//! Small helpers for reading and writing DynamoDB items by hand.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn text<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn num<T: std::str::FromStr>(item: &Item, k: &str) -> Option<T> {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

pub fn time(item: &Item, k: &str) -> Option<Timestamp> {
    text(item, k).and_then(|t| t.parse().ok())
}

pub fn flag(item: &Item, k: &str) -> bool {
    item.get(k).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

/// A string set attribute's members (empty when absent).
pub fn string_set(item: &Item, k: &str) -> Vec<String> {
    item.get(k).and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default()
}

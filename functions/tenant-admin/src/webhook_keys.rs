//! The app-level webhook signing keys the intake verifies with. Listed by id only; a secret goes in once and never
//! comes back out. Rotation: add the new key (both are accepted), switch ServiceTitan to it, retire the old one.

use http::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};
use tracing::info;

use shared::api_error::{ApiError, FieldError, json_response};
use shared::clock::iso_millis;
use shared::signing_keys::{KeyRing, KeyRingError, SigningKey};

use crate::{Admin, Handled, ok, storage_error};

const MIN_SECRET_LEN: usize = 16;

fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn parse_time(field: &str, v: Option<&Value>, fields: &mut Vec<FieldError>) -> Option<Timestamp> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => match t.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                fields.push(FieldError::new(
                    field,
                    "must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z",
                ));
                None
            }
        },
        Some(_) => {
            fields.push(FieldError::new(field, "must be an RFC 3339 time string"));
            None
        }
    }
}

/// A key ring by id only: a secret never comes back out.
pub(crate) fn listing(ring: &KeyRing, now: Timestamp) -> Value {
    json!({
        "keys": ring.keys.iter().map(|k| json!({
            "id": k.id,
            "notAfter": k.not_after.map(iso_millis),
            "active": k.is_active(now),
        })).collect::<Vec<_>>(),
    })
}

fn ring_error(e: KeyRingError) -> ApiError {
    match e {
        KeyRingError::DuplicateId(_) => {
            ApiError::new(StatusCode::CONFLICT, "key_exists", e.to_string()).with_field("/id", "already in use")
        }
        KeyRingError::UnknownId(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_key", e.to_string()),
        KeyRingError::LastActiveKey(_) => ApiError::new(StatusCode::CONFLICT, "last_active_key", e.to_string()),
    }
}

impl Admin {
    pub(crate) async fn list_keys(&self) -> Handled {
        let ring = self
            .keys
            .read_uncached()
            .await
            .map_err(|e| storage_error("reading the signing keys", e))?;
        ok(&listing(&ring, self.clock.now()))
    }

    /// `{"id": "k2", "secret": "...", "notAfter": null}`: the secret as configured in ServiceTitan.
    pub(crate) async fn add_key(&self, body: &Value) -> Handled {
        let now = self.clock.now();
        let obj = body.as_object().expect("bodies are objects");
        let mut fields = Vec::new();
        for key in obj
            .keys()
            .filter(|k| !["id", "secret", "notAfter"].contains(&k.as_str()))
        {
            fields.push(FieldError::new(
                format!("/{key}"),
                "unknown field; expected id, secret, notAfter",
            ));
        }
        let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
        if !valid_key_id(id) {
            fields.push(FieldError::new(
                "/id",
                "is required: 1-64 letters, digits, '.', '_' or '-'",
            ));
        }
        let secret = obj.get("secret").and_then(Value::as_str).unwrap_or("");
        // Characters, as the document's minLength counts them.
        if secret.chars().count() < MIN_SECRET_LEN {
            fields.push(FieldError::new(
                "/secret",
                format!("is required: the HMAC key, at least {MIN_SECRET_LEN} characters"),
            ));
        }
        let not_after = parse_time("/notAfter", obj.get("notAfter"), &mut fields);
        if not_after.is_some_and(|t| t <= now) {
            fields.push(FieldError::rule("/notAfter", "must be in the future"));
        }
        if let Some(e) = ApiError::invalid_body("invalid_request", "the key is invalid", fields) {
            return Err(e);
        }
        let mut ring = self
            .keys
            .read_uncached()
            .await
            .map_err(|e| storage_error("reading the signing keys", e))?;
        ring.add(SigningKey {
            id: id.to_owned(),
            secret: secret.to_owned(),
            not_after,
        })
        .map_err(ring_error)?;
        self.keys
            .write(&ring)
            .await
            .map_err(|e| storage_error("storing the signing keys", e))?;
        info!(key_id = id, "webhook signing key added");
        Ok(json_response(StatusCode::CREATED, &listing(&ring, now)))
    }

    /// Retires a key now, or at `{"notAfter": ...}` to finish a rotation later. Repeating it is harmless.
    pub(crate) async fn retire_key(&self, id: &str, body: &Option<Value>) -> Handled {
        let now = self.clock.now();
        let mut fields = Vec::new();
        // Never in the past: "retire at" a past time means now.
        let at = parse_time("/notAfter", body.as_ref().and_then(|b| b.get("notAfter")), &mut fields)
            .unwrap_or(now)
            .max(now);
        if !fields.is_empty() {
            return Err(
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the retirement is invalid")
                    .with_fields(fields),
            );
        }
        let mut ring = self
            .keys
            .read_uncached()
            .await
            .map_err(|e| storage_error("reading the signing keys", e))?;
        let before = ring.clone();
        ring.retire(id, at, now).map_err(ring_error)?;
        if ring != before {
            self.keys
                .write(&ring)
                .await
                .map_err(|e| storage_error("storing the signing keys", e))?;
        }
        info!(key_id = id, not_after = %at, "webhook signing key retired");
        ok(&listing(&ring, now))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_ids_are_short_and_plain() {
        assert!(super::valid_key_id("k-2026.11_a"));
        assert!(!super::valid_key_id(""));
        assert!(!super::valid_key_id("has space"));
        assert!(!super::valid_key_id(&"x".repeat(65)));
    }
}

//! Turning a verified delivery body into a [`ServiceTitanEvent`]. Pure: no I/O, so it is unit-tested and benchmarked
//! directly.

use http::StatusCode;
use jiff::Timestamp;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use shared::api_error::ApiError;

use crate::json_lookup::{Extractor, ParseError};
use shared::clock::parse_flexible;
use shared::event::{EntityRef, EventIdSource, EventName, ServiceTitanEvent};
use shared::event_log::{EventSummary, REPLAY_WINDOW};
use shared::webhook_scheme::EnvelopeScheme;

/// Longer ids are replaced by their hash so that they fit a DynamoDB sort key comfortably.
const MAX_EVENT_ID_LEN: usize = 256;
const MAX_TENANT_ID_LEN: usize = 64;

#[derive(Debug)]
pub enum Normalised {
    Known(ServiceTitanEvent),
    /// A name the product does not know yet: kept (parked), never queued, never dropped.
    Unknown(EventSummary),
}

impl Normalised {
    pub fn tenant_id(&self) -> &str {
        match self {
            Self::Known(e) => &e.tenant_id,
            Self::Unknown(s) => &s.tenant_id,
        }
    }
    pub fn event_id(&self) -> &str {
        match self {
            Self::Known(e) => &e.event_id,
            Self::Unknown(s) => &s.event_id,
        }
    }
}

fn sha256_id(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Normalises deliveries for one [`EnvelopeScheme`]; built once, used for every request.
#[derive(Debug)]
pub struct Normaliser {
    extractor: Extractor,
    /// Pointer lists in extraction order: tenant, event name, event id, entity id, occurred at.
    fields: [Vec<String>; 5],
}

const TENANT: usize = 0;
const EVENT_NAME: usize = 1;
const EVENT_ID: usize = 2;
const ENTITY_ID: usize = 3;
const OCCURRED_AT: usize = 4;

/// One-off form of [`Normaliser::normalise`].
pub fn normalise(
    envelope: &EnvelopeScheme,
    path_event: Option<&str>,
    body: &[u8],
    received_at: Timestamp,
) -> Result<Normalised, ApiError> {
    Normaliser::new(envelope).normalise(path_event, body, received_at)
}

impl Normaliser {
    pub fn new(envelope: &EnvelopeScheme) -> Self {
        let fields = [
            envelope.tenant_pointers.clone(),
            envelope.event_name_pointers.clone(),
            envelope.event_id_pointers.clone(),
            envelope.entity_id_pointers.clone(),
            envelope.occurred_at_pointers.clone(),
        ];
        let pointers: Vec<&str> = fields.iter().flatten().map(String::as_str).collect();
        Self {
            extractor: Extractor::new(&pointers),
            fields,
        }
    }

    /// Normalises a delivery. `path_event` is the `{event}` route segment: ServiceTitan configures one callback URL
    /// per event, so it names the event when the body does not. The path is not signed, so when the body names the
    /// event too the two must agree. A body that says it happened longer ago than [`REPLAY_WINDOW`] is refused.
    pub fn normalise(
        &self,
        path_event: Option<&str>,
        body: &[u8],
        received_at: Timestamp,
    ) -> Result<Normalised, ApiError> {
        let invalid_json = |reason: String| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "the body is not valid JSON")
                .with_field("body", reason)
        };
        let text = std::str::from_utf8(body).map_err(|e| invalid_json(format!("not UTF-8: {e}")))?;
        // One pass validates the whole body and picks out every envelope field.
        let found = self.extractor.extract(text).map_err(|e| match e {
            ParseError::Syntax(reason) => invalid_json(reason),
            ParseError::NotAnObject => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "the body must be a JSON object",
            )
            .with_field("body", "expected an object"),
        })?;
        // The values found for field `i`, in the order of its pointers.
        let values = |i: usize| {
            let start: usize = self.fields[..i].iter().map(Vec::len).sum();
            found[start..start + self.fields[i].len()].iter().flatten()
        };
        let first = |i: usize| values(i).next().cloned();
        let envelope = &self.fields;

        let mut invalid = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_envelope",
            "the delivery is missing required fields",
        );
        let tenant_id = match first(TENANT) {
            Some(t) if valid_tenant_id(&t) => Some(t),
            Some(t) => {
                invalid = invalid.with_field(
                    envelope[TENANT].join(" | "),
                    format!("tenant id {:?} is not a ServiceTitan tenant id", truncate(&t, 40)),
                );
                None
            }
            None => {
                invalid = invalid.with_field(
                    envelope[TENANT].join(" | "),
                    "no tenant id at any of these JSON pointers",
                );
                None
            }
        };
        let body_name = first(EVENT_NAME);
        let raw_name = match path_event.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => {
                if let Some(b) = body_name.as_deref().filter(|b| !EventName::same_name(e, b)) {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "event_name_mismatch",
                        "the route and the body name different events",
                    )
                    .with_field(
                        "event",
                        format!(
                            "the route says {:?}, the signed body says {:?}",
                            truncate(e, 100),
                            truncate(b, 100)
                        ),
                    ));
                }
                Some(e.to_owned())
            }
            None => body_name,
        };
        if raw_name.is_none() {
            invalid = invalid.with_field(
                envelope[EVENT_NAME].join(" | "),
                "no event name in the route or at any of these JSON pointers",
            );
        }
        let (Some(tenant_id), Some(raw_name)) = (tenant_id, raw_name) else {
            return Err(invalid);
        };

        let (event_id, event_id_source) = match first(EVENT_ID) {
            Some(id) if id.len() <= MAX_EVENT_ID_LEN => (id, EventIdSource::Envelope),
            Some(id) => (sha256_id(id.as_bytes()), EventIdSource::Envelope),
            // Never a random id: a retry of the same delivery must map to the same id.
            None => (sha256_id(body), EventIdSource::BodySha256),
        };
        let entity_id = first(ENTITY_ID);
        let occurred_at = values(OCCURRED_AT)
            .find_map(|t| parse_flexible(t))
            .unwrap_or(received_at);
        // Past the window its dedupe record may have expired, so a captured copy could take effect twice.
        if received_at.duration_since(occurred_at) > REPLAY_WINDOW {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "delivery_too_old",
                format!(
                    "the event happened more than {} days ago; deliveries older than that are not accepted",
                    REPLAY_WINDOW.as_hours() / 24
                ),
            )
            .with_field(
                envelope[OCCURRED_AT].join(" | "),
                format!("occurred at {}", shared::clock::iso_millis(occurred_at)),
            ));
        }

        let Some(event_name) = EventName::parse(&raw_name) else {
            return Ok(Normalised::Unknown(EventSummary {
                tenant_id,
                event_id,
                event_name: truncate(&raw_name, 100),
                entity_kind: None,
                entity_id,
                occurred_at,
                received_at,
            }));
        };
        Ok(Normalised::Known(ServiceTitanEvent {
            tenant_id,
            event_name,
            event_id,
            event_id_source,
            entity: EntityRef {
                kind: event_name.entity_kind(),
                id: entity_id,
            },
            occurred_at,
            received_at,
            source: shared::event::EventSource::Webhook,
            // The body was validated above; this copies it into the message verbatim.
            payload: RawValue::from_string(text.to_owned()).map_err(|e| invalid_json(e.to_string()))?,
        }))
    }
}

fn valid_tenant_id(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_TENANT_ID_LEN
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    fn known(n: Normalised) -> ServiceTitanEvent {
        match n {
            Normalised::Known(e) => e,
            Normalised::Unknown(s) => panic!("expected a known event, got {s:?}"),
        }
    }

    #[test]
    fn v1_style_envelope() {
        let body = br#"{"id":1401,"jobStatus":"Completed","eventId":"2024-05-16T17:47:37.0523962Z","__eventInfo":{"eventId":"2024-05-16T17:47:37.0523962Z","webhookType":"JobComplete"},"__tenantInfo":{"id":866848184,"name":"demo"},"modifiedOn":"2024-05-16T17:47:36.8452562"}"#;
        let received = "2024-05-16T17:47:40Z".parse().unwrap();
        let e = known(normalise(&EnvelopeScheme::default(), None, body, received).unwrap());
        assert_eq!(e.tenant_id, "866848184");
        assert_eq!(e.event_name, EventName::JobCompleted);
        assert_eq!(e.event_id, "2024-05-16T17:47:37.0523962Z");
        assert_eq!(e.event_id_source, EventIdSource::Envelope);
        assert_eq!(e.entity.id.as_deref(), Some("1401"));
        assert_eq!(e.occurred_at, "2024-05-16T17:47:36.8452562Z".parse().unwrap());
        assert_eq!(e.payload.get().as_bytes(), body);
    }

    #[test]
    fn the_route_names_the_event_and_body_hash_is_the_fallback_id() {
        let body = br#"{"tenantId":"1001","data":{"id":77}}"#;
        let a = known(normalise(&EnvelopeScheme::default(), Some("estimate-sold"), body, now()).unwrap());
        let b = known(normalise(&EnvelopeScheme::default(), Some("estimate-sold"), body, now()).unwrap());
        assert_eq!(a.event_name, EventName::EstimateSold);
        assert_eq!(a.event_id_source, EventIdSource::BodySha256);
        assert_eq!(a.event_id, b.event_id, "the same body must give the same id");
        assert!(a.event_id.starts_with("sha256:") && a.event_id.len() == 7 + 64);
        assert_eq!(a.entity.id.as_deref(), Some("77"));
        assert_eq!(a.occurred_at, now());
    }

    #[test]
    fn route_and_signed_body_must_name_the_same_event() {
        let body = br#"{"tenantId":"1001","eventType":"estimate.sent","data":{"id":77}}"#;
        let scheme = EnvelopeScheme::default();
        // The same event spelled two ways agrees.
        let e = known(normalise(&scheme, Some("Estimate-Sent"), body, now()).unwrap());
        assert_eq!(e.event_name, EventName::EstimateSent);
        // The path is not signed: whoever can replay the body must not be able to rename its event.
        let err = normalise(&scheme, Some("estimate.sold"), body, now()).unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::BAD_REQUEST, "event_name_mismatch"));
        assert_eq!(err.fields[0].field, "event");
        // Unknown names compare by their letters too.
        let odd = br#"{"tenantId":"1001","eventType":"membership.renewed"}"#;
        assert!(matches!(
            normalise(&scheme, Some("membership-renewed"), odd, now()),
            Ok(Normalised::Unknown(_))
        ));
        assert!(normalise(&scheme, Some("estimate.sent"), odd, now()).is_err());
    }

    #[test]
    fn a_body_older_than_the_replay_window_is_refused() {
        let scheme = EnvelopeScheme::default();
        let at = |t: Timestamp| format!(r#"{{"tenantId":"1001","eventType":"job.completed","occurredAt":"{t}"}}"#);
        let edge = now() - REPLAY_WINDOW;
        assert!(
            normalise(&scheme, None, at(edge).as_bytes(), now()).is_ok(),
            "the window's edge is inside"
        );
        let old = edge - jiff::SignedDuration::from_secs(1);
        let err = normalise(&scheme, None, at(old).as_bytes(), now()).unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::BAD_REQUEST, "delivery_too_old"));
        assert!(err.fields[0].field.contains("/occurredAt"), "{err:?}");
        // No occurred-at: the time of receipt, so never too old.
        let none = br#"{"tenantId":"1001","eventType":"job.completed"}"#;
        assert!(normalise(&scheme, None, none, now()).is_ok());
    }

    #[test]
    fn unknown_names_are_parked_not_rejected() {
        let body = br#"{"tenantId":"1001","eventType":"membership.renewed","eventId":"e9"}"#;
        match normalise(&EnvelopeScheme::default(), None, body, now()).unwrap() {
            Normalised::Unknown(s) => {
                assert_eq!(s.event_name, "membership.renewed");
                assert_eq!(s.event_id, "e9");
            }
            Normalised::Known(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn field_level_reasons_for_a_bad_envelope() {
        let err = normalise(&EnvelopeScheme::default(), None, br#"{"hello":"world"}"#, now()).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, "invalid_envelope");
        assert_eq!(err.fields.len(), 2, "{err:?}");
        let err = normalise(
            &EnvelopeScheme::default(),
            None,
            br#"{"tenantId":"10 01; drop","eventType":"job.completed"}"#,
            now(),
        )
        .unwrap_err();
        assert_eq!(err.fields.len(), 1, "{err:?}");
    }

    #[test]
    fn malformed_json_and_non_objects() {
        let err = normalise(&EnvelopeScheme::default(), None, b"{\"tenantId\":", now()).unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::BAD_REQUEST, "invalid_json"));
        assert!(err.fields[0].reason.contains("line 1"), "{err:?}");
        let err = normalise(&EnvelopeScheme::default(), None, b"[1,2]", now()).unwrap_err();
        assert_eq!(err.code, "invalid_json");
    }

    #[test]
    fn configurable_pointers() {
        let scheme = EnvelopeScheme {
            tenant_pointers: vec!["/meta/tenant".into()],
            event_id_pointers: vec!["/meta/deliveryId".into()],
            event_name_pointers: vec!["/meta/topic".into()],
            ..EnvelopeScheme::default()
        };
        let body = br#"{"meta":{"tenant":42,"deliveryId":"d-1","topic":"PaymentReceived"},"tenantId":"999"}"#;
        let e = known(normalise(&scheme, None, body, now()).unwrap());
        assert_eq!(
            (e.tenant_id.as_str(), e.event_id.as_str(), e.event_name),
            ("42", "d-1", EventName::PaymentPosted)
        );
    }
}

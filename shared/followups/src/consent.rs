//! Consent to be contacted, and what each follow-up rests on.
//!
//! An AI-generated voice is an "artificial voice" under the TCPA (FCC 24-17, February 2024): an AI call to a mobile
//! number needs the person's prior express consent, and a sales call their prior express written consent. So an
//! AI call goes only where one of these holds:
//! - consent recorded for that number: a lead's `consent.voice`, or the AI platform's `POST /inbound` with
//!   `kind: "consent"` (written when the platform says so);
//! - the tenant's attestation (`aiCallConsent: {"basis": "attested", "attestedBy": …}`) that it holds written
//!   consent from its customers, recorded with who attested and when.
//!
//! Texts and emails go to the contacts the customer gave the contractor (its ServiceTitan record) or recorded
//! consent; opt-outs and ServiceTitan's `doNotText` / `doNotMail` are checked before any of this.

use std::borrow::Cow;

use domain::tenant_settings::{AiCallConsent, Channel};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::recipe::MessageClass;

/// Consent recorded for one address and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// Prior express *written* consent (needed for sales calls).
    pub written: bool,
    /// Where it came from: `lead`, `inbound`.
    pub source: String,
    pub at: Timestamp,
}

/// What a follow-up's channel rests on, as the follow-up carries it (`consent {basis, source, at}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Basis {
    /// `recorded`, `attested` or `customer_record`.
    pub basis: &'static str,
    /// `lead`, `inbound`, `tenant_attestation`, `servicetitan_contact`.
    pub source: Cow<'static, str>,
    /// When the consent was given or attested (none for a customer record).
    pub at: Option<Timestamp>,
    /// Written consent (a recorded one, or what an attestation attests).
    pub written: bool,
    /// Who attested, for an attestation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attested_by: Option<String>,
}

/// Why a step has no basis to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoBasis {
    /// An AI call with no recorded consent and no attestation (or only express consent for a sales call).
    NoCallConsent,
}

impl NoBasis {
    pub fn code(self) -> &'static str {
        match self {
            Self::NoCallConsent => "no_call_consent",
        }
    }
}

fn recorded(r: &Recorded) -> Basis {
    Basis {
        basis: "recorded",
        source: Cow::Owned(r.source.clone()),
        at: Some(r.at),
        written: r.written,
        attested_by: None,
    }
}

/// The basis for a step on `channel` of `class`, from the tenant's AI-call consent setting and the consent recorded
/// for the recipient's address on that channel.
pub fn basis(
    channel: Channel,
    class: MessageClass,
    tenant: &AiCallConsent,
    on_record: Option<&Recorded>,
) -> Result<Basis, NoBasis> {
    match channel {
        Channel::Voice => {
            if let AiCallConsent::Attested {
                attested_by,
                attested_at,
            } = tenant
            {
                return Ok(Basis {
                    basis: "attested",
                    source: Cow::Borrowed("tenant_attestation"),
                    at: *attested_at,
                    written: true,
                    attested_by: Some(attested_by.clone()),
                });
            }
            match on_record {
                Some(r) if r.written || !class.is_sales() => Ok(recorded(r)),
                _ => Err(NoBasis::NoCallConsent),
            }
        }
        Channel::Sms | Channel::Email => Ok(on_record.map(recorded).unwrap_or_else(|| Basis {
            basis: "customer_record",
            source: Cow::Borrowed("servicetitan_contact"),
            at: None,
            written: false,
            attested_by: None,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn express() -> Recorded {
        Recorded {
            written: false,
            source: "lead".into(),
            at: t("2026-11-20T15:00:00Z"),
        }
    }

    #[test]
    fn an_ai_call_needs_consent_and_a_sales_call_written_consent() {
        let recorded = AiCallConsent::Recorded;
        let sales = MessageClass::Solicitation;
        let service = MessageClass::Transactional;
        assert_eq!(
            basis(Channel::Voice, service, &recorded, None),
            Err(NoBasis::NoCallConsent)
        );
        assert_eq!(
            basis(Channel::Voice, service, &recorded, Some(&express()))
                .unwrap()
                .basis,
            "recorded"
        );
        assert_eq!(
            basis(Channel::Voice, sales, &recorded, Some(&express())),
            Err(NoBasis::NoCallConsent),
            "express consent is not enough for a sales call"
        );
        let written = Recorded {
            written: true,
            ..express()
        };
        assert!(basis(Channel::Voice, sales, &recorded, Some(&written)).unwrap().written);
        let attested = AiCallConsent::Attested {
            attested_by: "Dana Ortiz, owner".into(),
            attested_at: Some(t("2026-11-01T12:00:00Z")),
        };
        let b = basis(Channel::Voice, sales, &attested, None).unwrap();
        assert_eq!(
            (b.basis, b.attested_by.as_deref()),
            ("attested", Some("Dana Ortiz, owner"))
        );
    }

    #[test]
    fn texts_and_emails_rest_on_the_customer_record_or_recorded_consent() {
        let b = basis(Channel::Sms, MessageClass::Marketing, &AiCallConsent::Recorded, None).unwrap();
        assert_eq!(
            (b.basis, b.source.as_ref()),
            ("customer_record", "servicetitan_contact")
        );
        let b = basis(
            Channel::Email,
            MessageClass::Transactional,
            &AiCallConsent::Recorded,
            Some(&express()),
        )
        .unwrap();
        assert_eq!((b.basis, b.source.as_ref()), ("recorded", "lead"));
    }
}

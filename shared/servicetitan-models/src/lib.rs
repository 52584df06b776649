//! Request and response types, named after ServiceTitan's OpenAPI schemas (`Crm.V2.Customers.CustomerResponse` →
//! [`crm::Customer`], ...). Responses keep the fields the product uses and ignore the rest; requests skip unset
//! optional fields.

pub mod accounting;
pub mod crm;
pub mod jpm;
pub mod sales;
pub mod settings;
pub mod telecom;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

/// ServiceTitan writes date-times with or without an offset and with up to 7 fractional digits.
pub mod datetime {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        domain::clock::parse_flexible(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a date-time: {text:?}")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&t.to_string()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(text) => domain::clock::parse_flexible(&text)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom(format!("not a date-time: {text:?}"))),
            }
        }
    }
}

/// `{id, name}` references inside responses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct NamedRef {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
}

/// `externalData` on create requests: the product keys its own ids (lead id, conversation id) under its
/// application GUID, so a retried create can find what an earlier attempt made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDataCreate {
    pub application_guid: String,
    pub external_data: Vec<ExternalDataItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ExternalDataItem {
    pub key: String,
    pub value: String,
}

/// The externalData lookup of a list: `externalDataApplicationGuid`, `externalDataKey`, `externalDataValues`.
pub(crate) fn push_external_data(q: &mut Vec<(&'static str, String)>, f: &Option<(String, String, Vec<String>)>) {
    if let Some((guid, key, values)) = f {
        q.push(("externalDataApplicationGuid", guid.clone()));
        q.push(("externalDataKey", key.clone()));
        q.push(("externalDataValues", values.join(",")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(with = "datetime")]
        at: Timestamp,
        #[serde(with = "datetime::option", default)]
        maybe: Option<Timestamp>,
    }

    #[test]
    fn date_times_with_and_without_offset() {
        let t: T =
            serde_json::from_str(r#"{"at":"2024-05-16T17:47:36.8452562","maybe":"2021-07-19T20:35:38.2876004Z"}"#)
                .unwrap();
        assert_eq!(t.at, "2024-05-16T17:47:36.8452562Z".parse().unwrap());
        assert!(t.maybe.is_some());
        let t: T = serde_json::from_str(r#"{"at":"2021-07-19T00:00:00Z","maybe":null}"#).unwrap();
        assert!(t.maybe.is_none());
        assert!(serde_json::from_str::<T>(r#"{"at":"soon"}"#).is_err());
    }
}

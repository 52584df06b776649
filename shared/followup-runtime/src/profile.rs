//! What a run keeps about the person it follows up, read from ServiceTitan once at enrollment: the name to greet,
//! the service address that sets their time zone, and the ids the runner re-reads at send time. The live checks
//! at send time (the entity's state, the contacts and their `doNotText`) are never taken from here.

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// ServiceTitan's `doNotMail` on the customer (blocks email steps).
    #[serde(default)]
    pub do_not_mail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    /// Two-letter state or province of the service address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// IANA zone: the address's, else the tenant's.
    pub time_zone: String,
    /// `address` or `tenant`.
    pub time_zone_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<i64>,
    /// A missed call's caller, E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The business unit's name, for "this is <company>" when the tenant set no company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_unit_name: Option<String>,
}

impl Profile {
    /// The profile's time zone, or UTC if its name is unknown to this build (never the case for names it chose).
    pub fn zone(&self) -> TimeZone {
        TimeZone::get(&self.time_zone).unwrap_or(TimeZone::UTC)
    }

    /// Fills in the time zone from the address, or from the tenant's zone.
    pub fn resolve_time_zone(&mut self, tenant_zone: &str) {
        let from_address = self.state.as_deref().and_then(|state| {
            followups::geo::time_zone(
                state,
                self.zip.as_deref().unwrap_or(""),
                self.country.as_deref().unwrap_or(""),
            )
        });
        match from_address {
            Some(tz) => {
                self.time_zone = tz.to_owned();
                self.time_zone_source = "address".into();
            }
            None => {
                self.time_zone = tenant_zone.to_owned();
                self.time_zone_source = "tenant".into();
            }
        }
        if let Some(code) = self
            .state
            .as_deref()
            .and_then(|s| followups::geo::region_code(s, self.country.as_deref().unwrap_or("")))
        {
            self.state = Some(code.to_owned());
        }
    }
}

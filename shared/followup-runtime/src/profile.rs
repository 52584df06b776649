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
    /// IANA zone: the address's (its first candidate), else the area code's, else the tenant's.
    pub time_zone: String,
    /// Every candidate zone when the address (or area code) does not settle one: sends go only when all of them
    /// allow. Empty in profiles written before candidates were kept (then `time_zone` alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_zones: Vec<String>,
    /// `zip5`, `zip3`, `fsa`, `region`, `area_code` or `tenant` (`address` in older profiles).
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

    /// Every candidate zone (at least one).
    pub fn zones(&self) -> Vec<TimeZone> {
        let zones: Vec<TimeZone> = self.time_zones.iter().filter_map(|z| TimeZone::get(z).ok()).collect();
        if zones.is_empty() { vec![self.zone()] } else { zones }
    }

    /// Fills in the time zones from the address, else the caller's area code, else the tenant's zone.
    pub fn resolve_time_zone(&mut self, tenant_zone: &str) {
        let from_address = followups::geo::for_address(
            self.state.as_deref().unwrap_or(""),
            self.zip.as_deref().unwrap_or(""),
            self.country.as_deref().unwrap_or(""),
        );
        let found = from_address.or_else(|| self.phone.as_deref().and_then(followups::geo::for_phone));
        match found {
            Some(z) => {
                self.time_zone = z.zones[0].to_owned();
                self.time_zones = z.zones.iter().map(|z| (*z).to_owned()).collect();
                self.time_zone_source = z.source.as_str().into();
            }
            None => {
                self.time_zone = tenant_zone.to_owned();
                self.time_zones = Vec::new();
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

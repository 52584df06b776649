//! A recipient's time zone, or the candidate zones when it is not certain.
//!
//! - US addresses: by ZIP code, from generated data ([`zones_data`], made by `infra/zones/generate.py` from a public
//!   dataset; its source and date are in the file). A ZIP3 area wholly in one zone resolves at ZIP3; inside the
//!   areas that straddle a zone line (parts of NE, TX, FL, TN, KY, IN, MI, ND, SD, KS, ID, OR, and the Navajo
//!   Nation in Arizona, which keeps DST where the rest of Arizona does not) at ZIP5. A ZIP of a split area that
//!   the data does not list gets every zone of the area. Territories (PR, VI, GU, MP, AS) are in the data.
//! - Canadian addresses: by the postal code's FSA ([`canada`]), covering Labrador, northwestern Ontario, and
//!   Saskatchewan without DST; a province without a postal code gets the province's zones.
//! - No address (a missed call): the phone number's area code, then (the caller's fallback) the tenant's zone.
//!
//! Several candidates mean "the stricter": a moment is allowed only if it is allowed in every one of them
//! ([`crate::window::Policy`]). A state given with a ZIP from elsewhere gets both places' zones.

mod canada;
#[rustfmt::skip]
mod zones_data;

use serde::{Deserialize, Serialize};

/// How a recipient's zones were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The ZIP code itself (inside an area that straddles a zone line).
    Zip5,
    /// The ZIP code's area (wholly in one zone, or every zone of a split area for a ZIP the data does not list).
    Zip3,
    /// The Canadian postal code's FSA.
    Fsa,
    /// The state or province alone.
    Region,
    /// The phone number's area code.
    AreaCode,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zip5 => "zip5",
            Self::Zip3 => "zip3",
            Self::Fsa => "fsa",
            Self::Region => "region",
            Self::AreaCode => "area_code",
        }
    }
}

/// A recipient's candidate zones (one when certain), and how they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    pub zones: Vec<&'static str>,
    pub source: Source,
}

impl Zones {
    /// The candidates in the order given (the likeliest first), each once.
    fn of(zones: Vec<&'static str>, source: Source) -> Option<Self> {
        let mut unique: Vec<&'static str> = Vec::with_capacity(zones.len());
        for z in zones {
            if !unique.contains(&z) {
                unique.push(z);
            }
        }
        (!unique.is_empty()).then_some(Self { zones: unique, source })
    }
}

/// US states, DC and territories: (code, name, zones; the main one first).
const STATES: &[(&str, &str, &[&str])] = &[
    ("AL", "Alabama", &["America/Chicago", "America/New_York"]),
    ("AK", "Alaska", &["America/Anchorage", "America/Adak"]),
    ("AZ", "Arizona", &["America/Phoenix", "America/Denver"]),
    ("AR", "Arkansas", &["America/Chicago"]),
    ("CA", "California", &["America/Los_Angeles"]),
    ("CO", "Colorado", &["America/Denver"]),
    ("CT", "Connecticut", &["America/New_York"]),
    ("DE", "Delaware", &["America/New_York"]),
    ("DC", "District of Columbia", &["America/New_York"]),
    ("FL", "Florida", &["America/New_York", "America/Chicago"]),
    ("GA", "Georgia", &["America/New_York"]),
    ("HI", "Hawaii", &["Pacific/Honolulu"]),
    ("ID", "Idaho", &["America/Boise", "America/Los_Angeles"]),
    ("IL", "Illinois", &["America/Chicago"]),
    ("IN", "Indiana", &["America/Indiana/Indianapolis", "America/Chicago"]),
    ("IA", "Iowa", &["America/Chicago"]),
    ("KS", "Kansas", &["America/Chicago", "America/Denver"]),
    ("KY", "Kentucky", &["America/New_York", "America/Chicago"]),
    ("LA", "Louisiana", &["America/Chicago"]),
    ("ME", "Maine", &["America/New_York"]),
    ("MD", "Maryland", &["America/New_York"]),
    ("MA", "Massachusetts", &["America/New_York"]),
    ("MI", "Michigan", &["America/Detroit", "America/Menominee"]),
    ("MN", "Minnesota", &["America/Chicago"]),
    ("MS", "Mississippi", &["America/Chicago"]),
    ("MO", "Missouri", &["America/Chicago"]),
    ("MT", "Montana", &["America/Denver"]),
    ("NE", "Nebraska", &["America/Chicago", "America/Denver"]),
    ("NV", "Nevada", &["America/Los_Angeles", "America/Denver"]),
    ("NH", "New Hampshire", &["America/New_York"]),
    ("NJ", "New Jersey", &["America/New_York"]),
    ("NM", "New Mexico", &["America/Denver"]),
    ("NY", "New York", &["America/New_York"]),
    ("NC", "North Carolina", &["America/New_York"]),
    ("ND", "North Dakota", &["America/Chicago", "America/Denver"]),
    ("OH", "Ohio", &["America/New_York"]),
    ("OK", "Oklahoma", &["America/Chicago"]),
    ("OR", "Oregon", &["America/Los_Angeles", "America/Boise"]),
    ("PA", "Pennsylvania", &["America/New_York"]),
    ("RI", "Rhode Island", &["America/New_York"]),
    ("SC", "South Carolina", &["America/New_York"]),
    ("SD", "South Dakota", &["America/Chicago", "America/Denver"]),
    ("TN", "Tennessee", &["America/Chicago", "America/New_York"]),
    ("TX", "Texas", &["America/Chicago", "America/Denver"]),
    ("UT", "Utah", &["America/Denver"]),
    ("VT", "Vermont", &["America/New_York"]),
    ("VA", "Virginia", &["America/New_York"]),
    ("WA", "Washington", &["America/Los_Angeles"]),
    ("WV", "West Virginia", &["America/New_York"]),
    ("WI", "Wisconsin", &["America/Chicago"]),
    ("WY", "Wyoming", &["America/Denver"]),
    ("PR", "Puerto Rico", &["America/Puerto_Rico"]),
    ("VI", "Virgin Islands", &["America/St_Thomas"]),
    ("GU", "Guam", &["Pacific/Guam"]),
    ("MP", "Northern Mariana Islands", &["Pacific/Saipan"]),
    ("AS", "American Samoa", &["Pacific/Pago_Pago"]),
];

fn is_canada(country: &str) -> bool {
    matches!(country.trim().to_ascii_uppercase().as_str(), "CA" | "CAN" | "CANADA")
}

/// A state or province as its two-letter code ("Texas", "tx" → "TX"), if it is one.
pub fn region_code(region: &str, country: &str) -> Option<&'static str> {
    let wanted = region.trim();
    if is_canada(country) {
        return canada::province_code(wanted);
    }
    STATES
        .iter()
        .find(|(code, name, _)| code.eq_ignore_ascii_case(wanted) || name.eq_ignore_ascii_case(wanted))
        .map(|(code, _, _)| *code)
}

fn zone_set(index: u8) -> Vec<&'static str> {
    zones_data::ZONE_SETS[index as usize]
        .iter()
        .map(|z| zones_data::ZONES[*z as usize])
        .collect()
}

/// A US ZIP code's zones, from the generated data.
pub fn for_zip(zip: &str) -> Option<Zones> {
    let digits: String = zip.trim().chars().take_while(char::is_ascii_digit).collect();
    let zip5: u32 = digits.get(..5)?.parse().ok()?;
    let zip3 = (zip5 / 100) as u16;
    let i = zones_data::ZIP3.binary_search_by_key(&zip3, |(z, _)| *z).ok()?;
    let area = zones_data::ZIP3[i].1;
    if zones_data::ZONE_SETS[area as usize].len() > 1 {
        let found = zones_data::ZIP5.binary_search_by(|(lo, hi, _)| {
            if *hi < zip5 {
                std::cmp::Ordering::Less
            } else if *lo > zip5 {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        if let Ok(j) = found {
            return Zones::of(zone_set(zones_data::ZIP5[j].2), Source::Zip5);
        }
    }
    Zones::of(zone_set(area), Source::Zip3)
}

/// The zones of an address: its postal code's, else its state's or province's. `None` when neither is known (the
/// caller falls back to the area code or the tenant's zone).
pub fn for_address(region: &str, postal: &str, country: &str) -> Option<Zones> {
    // The freely associated states share ZIP3 969 with Guam, in other zones: not guessed.
    if ["FM", "MH", "PW"].iter().any(|c| region.trim().eq_ignore_ascii_case(c)) {
        return None;
    }
    if is_canada(country) || canada::looks_like_postal_code(postal) {
        return canada::for_address(region, postal);
    }
    let state = region_code(region, country).and_then(|code| STATES.iter().find(|(c, _, _)| *c == code));
    let by_zip = for_zip(postal);
    match (by_zip, state) {
        // A ZIP from another state than the one written: both places' zones, the stricter window.
        (Some(z), Some((_, _, zones)))
            if !z.zones.iter().any(|x| zones.contains(x))
                && !z.zones.iter().any(|x| zones.iter().any(|y| same_rules(x, y))) =>
        {
            Zones::of(z.zones.iter().chain(zones.iter()).copied().collect(), z.source)
        }
        (Some(z), _) => Some(z),
        (None, Some((_, _, zones))) => Zones::of(zones.to_vec(), Source::Region),
        (None, None) => None,
    }
}

/// Whether two zones keep the same clock (America/Indiana/Knox and America/Chicago do): their offsets in January
/// and in July agree.
fn same_rules(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (Ok(a), Ok(b)) = (jiff::tz::TimeZone::get(a), jiff::tz::TimeZone::get(b)) else {
        return false;
    };
    // A winter and a summer moment after the data's last rule changes (tzdata 2026f).
    ["2027-01-15T12:00:00Z", "2027-07-15T12:00:00Z"].iter().all(|t| {
        let at: jiff::Timestamp = t.parse().expect("a fixed moment");
        a.to_offset(at) == b.to_offset(at)
    })
}

/// The zones of a North American phone number's area code (`+1NPA…`).
pub fn for_phone(e164: &str) -> Option<Zones> {
    let national = e164.strip_prefix("+1")?;
    let npa: u16 = national.get(..3)?.parse().ok()?;
    if let Ok(i) = zones_data::AREA_CODES.binary_search_by_key(&npa, |(a, _)| *a) {
        return Zones::of(zone_set(zones_data::AREA_CODES[i].1), Source::AreaCode);
    }
    canada::for_area_code(npa).and_then(|zones| Zones::of(zones.to_vec(), Source::AreaCode))
}

#[cfg(test)]
mod tests;

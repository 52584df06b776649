//! A recipient's time zone from their service address: the state (or province), refined by the ZIP code's first
//! three digits where a state spans two zones. Residential trades serve the US and Canada; elsewhere (or with no
//! address) the caller falls back to the tenant's time zone.
//!
//! The table covers whole ZIP3 areas only. County lines that cut through a ZIP3 area (a few in Kansas, Michigan's
//! Upper Peninsula, Idaho's panhandle edge) resolve to the state's main zone.

/// US states, DC and territories: (code, name, main zone).
const STATES: &[(&str, &str, &str)] = &[
    ("AL", "Alabama", "America/Chicago"),
    ("AK", "Alaska", "America/Anchorage"),
    ("AZ", "Arizona", "America/Phoenix"),
    ("AR", "Arkansas", "America/Chicago"),
    ("CA", "California", "America/Los_Angeles"),
    ("CO", "Colorado", "America/Denver"),
    ("CT", "Connecticut", "America/New_York"),
    ("DE", "Delaware", "America/New_York"),
    ("DC", "District of Columbia", "America/New_York"),
    ("FL", "Florida", "America/New_York"),
    ("GA", "Georgia", "America/New_York"),
    ("HI", "Hawaii", "Pacific/Honolulu"),
    ("ID", "Idaho", "America/Boise"),
    ("IL", "Illinois", "America/Chicago"),
    ("IN", "Indiana", "America/Indiana/Indianapolis"),
    ("IA", "Iowa", "America/Chicago"),
    ("KS", "Kansas", "America/Chicago"),
    ("KY", "Kentucky", "America/New_York"),
    ("LA", "Louisiana", "America/Chicago"),
    ("ME", "Maine", "America/New_York"),
    ("MD", "Maryland", "America/New_York"),
    ("MA", "Massachusetts", "America/New_York"),
    ("MI", "Michigan", "America/Detroit"),
    ("MN", "Minnesota", "America/Chicago"),
    ("MS", "Mississippi", "America/Chicago"),
    ("MO", "Missouri", "America/Chicago"),
    ("MT", "Montana", "America/Denver"),
    ("NE", "Nebraska", "America/Chicago"),
    ("NV", "Nevada", "America/Los_Angeles"),
    ("NH", "New Hampshire", "America/New_York"),
    ("NJ", "New Jersey", "America/New_York"),
    ("NM", "New Mexico", "America/Denver"),
    ("NY", "New York", "America/New_York"),
    ("NC", "North Carolina", "America/New_York"),
    ("ND", "North Dakota", "America/Chicago"),
    ("OH", "Ohio", "America/New_York"),
    ("OK", "Oklahoma", "America/Chicago"),
    ("OR", "Oregon", "America/Los_Angeles"),
    ("PA", "Pennsylvania", "America/New_York"),
    ("RI", "Rhode Island", "America/New_York"),
    ("SC", "South Carolina", "America/New_York"),
    ("SD", "South Dakota", "America/Chicago"),
    ("TN", "Tennessee", "America/Chicago"),
    ("TX", "Texas", "America/Chicago"),
    ("UT", "Utah", "America/Denver"),
    ("VT", "Vermont", "America/New_York"),
    ("VA", "Virginia", "America/New_York"),
    ("WA", "Washington", "America/Los_Angeles"),
    ("WV", "West Virginia", "America/New_York"),
    ("WI", "Wisconsin", "America/Chicago"),
    ("WY", "Wyoming", "America/Denver"),
    ("PR", "Puerto Rico", "America/Puerto_Rico"),
    ("VI", "Virgin Islands", "America/St_Thomas"),
    ("GU", "Guam", "Pacific/Guam"),
];

/// ZIP3 areas in another zone than their state's main one: (state, first ZIP3, last ZIP3, zone).
const ZIP3_EXCEPTIONS: &[(&str, u16, u16, &str)] = &[
    ("FL", 324, 325, "America/Chicago"), // the western panhandle (Panama City, Pensacola)
    ("ID", 835, 835, "America/Los_Angeles"), // Lewiston
    ("ID", 838, 838, "America/Los_Angeles"), // Coeur d'Alene, the northern panhandle
    ("IN", 463, 464, "America/Chicago"), // Gary, the Chicago side
    ("IN", 476, 477, "America/Chicago"), // Evansville
    ("KY", 420, 424, "America/Chicago"), // western Kentucky
    ("NE", 690, 693, "America/Denver"),  // western Nebraska
    ("ND", 586, 586, "America/Denver"),  // Dickinson, the southwest
    ("OR", 979, 979, "America/Boise"),   // Malheur County
    ("SD", 577, 577, "America/Denver"),  // Rapid City, the west
    ("TN", 373, 379, "America/New_York"), // east Tennessee (Chattanooga, Knoxville)
    ("TX", 798, 799, "America/Denver"),  // El Paso
    ("TX", 885, 885, "America/Denver"),  // El Paso
];

/// Canadian provinces and territories: (code, name, main zone).
const PROVINCES: &[(&str, &str, &str)] = &[
    ("AB", "Alberta", "America/Edmonton"),
    ("BC", "British Columbia", "America/Vancouver"),
    ("MB", "Manitoba", "America/Winnipeg"),
    ("NB", "New Brunswick", "America/Moncton"),
    ("NL", "Newfoundland and Labrador", "America/St_Johns"),
    ("NS", "Nova Scotia", "America/Halifax"),
    ("NT", "Northwest Territories", "America/Yellowknife"),
    ("NU", "Nunavut", "America/Iqaluit"),
    ("ON", "Ontario", "America/Toronto"),
    ("PE", "Prince Edward Island", "America/Halifax"),
    ("QC", "Quebec", "America/Toronto"),
    ("SK", "Saskatchewan", "America/Regina"),
    ("YT", "Yukon", "America/Whitehorse"),
];

fn is_canada(country: &str) -> bool {
    matches!(country.trim().to_ascii_uppercase().as_str(), "CA" | "CAN" | "CANADA")
}

/// A state or province as its two-letter code ("Texas", "tx" → "TX"), if it is one.
pub fn region_code(region: &str, country: &str) -> Option<&'static str> {
    let wanted = region.trim();
    let table = if is_canada(country) { PROVINCES } else { STATES };
    table
        .iter()
        .find(|(code, name, _)| code.eq_ignore_ascii_case(wanted) || name.eq_ignore_ascii_case(wanted))
        .map(|(code, _, _)| *code)
}

/// The IANA zone of an address, if the state (or province) is known.
pub fn time_zone(region: &str, zip: &str, country: &str) -> Option<&'static str> {
    let code = region_code(region, country)?;
    if is_canada(country) {
        return PROVINCES.iter().find(|(c, _, _)| *c == code).map(|(_, _, tz)| *tz);
    }
    let zip3: Option<u16> = zip.trim().get(..3).and_then(|z| z.parse().ok());
    if let Some(z) = zip3
        && let Some((_, _, _, tz)) = ZIP3_EXCEPTIONS
            .iter()
            .find(|(state, lo, hi, _)| *state == code && (*lo..=*hi).contains(&z))
    {
        return Some(tz);
    }
    STATES.iter().find(|(c, _, _)| *c == code).map(|(_, _, tz)| *tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_zip3_exceptions_and_provinces() {
        assert_eq!(time_zone("TX", "78704", "USA"), Some("America/Chicago"));
        assert_eq!(time_zone("Texas", "79901", "US"), Some("America/Denver"), "El Paso");
        assert_eq!(time_zone("FL", "33101", "USA"), Some("America/New_York"));
        assert_eq!(time_zone("fl", "32501", "USA"), Some("America/Chicago"), "Pensacola");
        assert_eq!(time_zone("TN", "37902", "USA"), Some("America/New_York"), "Knoxville");
        assert_eq!(time_zone("TN", "37203", "USA"), Some("America/Chicago"), "Nashville");
        assert_eq!(time_zone("AZ", "85001", ""), Some("America/Phoenix"));
        assert_eq!(time_zone("ON", "M5V 2T6", "Canada"), Some("America/Toronto"));
        assert_eq!(time_zone("Saskatchewan", "S4P", "CA"), Some("America/Regina"));
        assert_eq!(time_zone("Narnia", "00000", "USA"), None);
        assert_eq!(region_code("new york", "USA"), Some("NY"));
    }

    #[test]
    fn every_zone_in_the_tables_exists() {
        for tz in STATES
            .iter()
            .map(|s| s.2)
            .chain(PROVINCES.iter().map(|p| p.2))
            .chain(ZIP3_EXCEPTIONS.iter().map(|e| e.3))
        {
            assert!(jiff::tz::TimeZone::get(tz).is_ok(), "{tz}");
        }
    }
}

//! Canadian postal codes (by FSA, the first three characters) and area codes, to time zones.
//!
//! The table is hand-kept from public sources (the provinces' time laws, the tz database's zone notes and
//! Canada Post's FSA list, checked against every postal code placed on the tz boundary map); the README's contact
//! safety section lists them. It reflects tzdata 2026f: British Columbia, Alberta, the Northwest Territories and
//! Manitoba stopped changing clocks in 2026. Two places whose legal time was still open when it was written carry
//! an extra "hedge" zone, which only ever makes the window smaller: northwestern Ontario's Central-time area
//! (America/Chicago beside America/Winnipeg) and the East Kootenay (America/Vancouver beside America/Edmonton).

use super::Zones;

/// Provinces and territories: (code, name, FSA first letters, zones when only the province is known).
const PROVINCES: &[(&str, &str, &str, &[&str])] = &[
    (
        "NL",
        "Newfoundland and Labrador",
        "A",
        &["America/St_Johns", "America/Goose_Bay"],
    ),
    ("NS", "Nova Scotia", "B", &["America/Halifax"]),
    ("PE", "Prince Edward Island", "C", &["America/Halifax"]),
    ("NB", "New Brunswick", "E", &["America/Moncton"]),
    (
        "QC",
        "Quebec",
        "GHJ",
        &[
            "America/Toronto",
            "America/Halifax",
            "America/Puerto_Rico",
            "America/Moncton",
        ],
    ),
    (
        "ON",
        "Ontario",
        "KLMNP",
        &[
            "America/Toronto",
            "America/Winnipeg",
            "America/Panama",
            "America/Chicago",
        ],
    ),
    ("MB", "Manitoba", "R", &["America/Winnipeg"]),
    (
        "SK",
        "Saskatchewan",
        "S",
        &["America/Regina", "America/Edmonton", "America/Winnipeg"],
    ),
    ("AB", "Alberta", "T", &["America/Edmonton"]),
    (
        "BC",
        "British Columbia",
        "V",
        &[
            "America/Vancouver",
            "America/Dawson_Creek",
            "America/Fort_Nelson",
            "America/Edmonton",
            "America/Phoenix",
        ],
    ),
    (
        "NT",
        "Northwest Territories",
        "X",
        &["America/Edmonton", "America/Inuvik"],
    ),
    (
        "NU",
        "Nunavut",
        "X",
        &[
            "America/Iqaluit",
            "America/Resolute",
            "America/Rankin_Inlet",
            "America/Cambridge_Bay",
            "America/Panama",
        ],
    ),
    ("YT", "Yukon", "Y", &["America/Whitehorse", "America/Dawson"]),
];

const NW_ONTARIO: &[&str] = &["America/Winnipeg", "America/Chicago"];
const EAST_KOOTENAY: &[&str] = &["America/Edmonton", "America/Vancouver"];

/// The postal prefixes whose zones are not their first letter's: the longest prefix that matches wins.
const FSAS: &[(&str, &[&str])] = &[
    ("A", &["America/St_Johns"]),
    ("A0K", &["America/St_Johns", "America/Goose_Bay"]), // southern Labrador and the Great Northern Peninsula
    ("A0P", &["America/Goose_Bay"]),                     // central and north Labrador
    ("A0R", &["America/Goose_Bay"]),                     // western Labrador (Churchill Falls, Wabush)
    ("A2V", &["America/Goose_Bay"]),                     // Labrador City
    ("B", &["America/Halifax"]),
    ("C", &["America/Halifax"]),
    ("E", &["America/Moncton"]),
    ("G", &["America/Toronto"]),
    ("G0C", &["America/Toronto", "America/Moncton"]), // Gaspésie, and Listuguj on Atlantic time
    ("G0G", &["America/Toronto", "America/Puerto_Rico"]), // Côte-Nord, and the Lower North Shore on AST all year
    ("G4T", &["America/Halifax"]),                    // Îles-de-la-Madeleine
    ("H", &["America/Toronto"]),
    ("J", &["America/Toronto"]),
    ("K", &["America/Toronto"]),
    ("L", &["America/Toronto"]),
    ("M", &["America/Toronto"]),
    ("N", &["America/Toronto"]),
    ("P", &["America/Toronto"]),
    (
        "P0T",
        &[
            "America/Toronto",
            "America/Winnipeg",
            "America/Panama",
            "America/Chicago",
        ],
    ), // incl. Atikokan
    (
        "P0V",
        &[
            "America/Winnipeg",
            "America/Toronto",
            "America/Panama",
            "America/Chicago",
        ],
    ), // Red Lake, Pickle Lake
    ("P0W", NW_ONTARIO), // Rainy River district
    ("P0X", NW_ONTARIO), // Kenora area
    ("P0Y", NW_ONTARIO),
    ("P8N", NW_ONTARIO), // Dryden
    ("P8T", NW_ONTARIO), // Sioux Lookout
    ("P9A", NW_ONTARIO), // Fort Frances
    ("P9N", NW_ONTARIO), // Kenora
    ("R", &["America/Winnipeg"]),
    ("S", &["America/Regina"]),                       // no DST
    ("S0M", &["America/Regina", "America/Edmonton"]), // north-west, near Lloydminster
    ("S0P", &["America/Regina", "America/Winnipeg"]), // Creighton follows Flin Flon
    ("S9V", &["America/Edmonton"]),                   // Lloydminster keeps Alberta time
    ("T", &["America/Edmonton"]),
    ("V", &["America/Vancouver"]),
    ("V0A", EAST_KOOTENAY),                                                 // Golden, Invermere
    ("V0B", &["America/Edmonton", "America/Phoenix", "America/Vancouver"]), // East Kootenay and Creston
    (
        "V0C",
        &["America/Dawson_Creek", "America/Fort_Nelson", "America/Vancouver"],
    ),
    ("V1A", EAST_KOOTENAY), // Kimberley
    ("V1C", EAST_KOOTENAY), // Cranbrook
    ("V1G", &["America/Dawson_Creek"]),
    ("V1J", &["America/Dawson_Creek"]),
    (
        "X",
        &[
            "America/Iqaluit",
            "America/Resolute",
            "America/Rankin_Inlet",
            "America/Cambridge_Bay",
            "America/Panama",
            "America/Edmonton",
            "America/Inuvik",
        ],
    ),
    ("X0A", &["America/Iqaluit", "America/Resolute"]),
    ("X0B", &["America/Cambridge_Bay"]),
    ("X0C", &["America/Rankin_Inlet", "America/Panama"]),
    ("X0E", &["America/Edmonton", "America/Inuvik"]),
    ("X0G", &["America/Edmonton", "America/Inuvik"]),
    ("X1A", &["America/Edmonton"]), // Yellowknife
    ("Y", &["America/Whitehorse"]),
    ("Y0B", &["America/Whitehorse", "America/Dawson"]),
];

/// Area codes: (area code, zones). Overlays share their parent's geography.
const AREA_CODES: &[(u16, &[&str])] = &[
    (204, &["America/Winnipeg"]),
    (226, &["America/Toronto"]),
    (236, BC),
    (249, &["America/Toronto"]),
    (250, BC),
    (257, BC),
    (263, &["America/Toronto"]),
    (273, QC_EAST),
    (289, &["America/Toronto"]),
    (306, SK),
    (343, &["America/Toronto"]),
    (354, &["America/Toronto"]),
    (365, &["America/Toronto"]),
    (367, QC_EAST),
    (368, &["America/Edmonton"]),
    (382, &["America/Toronto"]),
    (403, &["America/Edmonton"]),
    (416, &["America/Toronto"]),
    (418, QC_EAST),
    (428, &["America/Moncton"]),
    (431, &["America/Winnipeg"]),
    (437, &["America/Toronto"]),
    (438, &["America/Toronto"]),
    (450, &["America/Toronto"]),
    (468, &["America/Toronto"]),
    (474, SK),
    (506, &["America/Moncton"]),
    (514, &["America/Toronto"]),
    (519, &["America/Toronto"]),
    (548, &["America/Toronto"]),
    (579, &["America/Toronto"]),
    (581, QC_EAST),
    (584, &["America/Winnipeg"]),
    (587, &["America/Edmonton"]),
    (604, &["America/Vancouver"]),
    (613, &["America/Toronto"]),
    (639, SK),
    (647, &["America/Toronto"]),
    (672, BC),
    (683, &["America/Toronto"]),
    (705, &["America/Toronto"]),
    (709, &["America/St_Johns", "America/Goose_Bay"]),
    (742, &["America/Toronto"]),
    (753, &["America/Toronto"]),
    (778, BC),
    (780, &["America/Edmonton"]),
    (782, &["America/Halifax"]),
    (
        807,
        &[
            "America/Toronto",
            "America/Winnipeg",
            "America/Panama",
            "America/Chicago",
        ],
    ),
    (819, &["America/Toronto"]),
    (825, &["America/Edmonton"]),
    (867, NORTH),
    (873, &["America/Toronto"]),
    (879, &["America/St_Johns", "America/Goose_Bay"]),
    (902, &["America/Halifax"]),
    (905, &["America/Toronto"]),
    (942, &["America/Toronto"]),
];

const BC: &[&str] = &[
    "America/Vancouver",
    "America/Dawson_Creek",
    "America/Fort_Nelson",
    "America/Edmonton",
    "America/Phoenix",
];
const QC_EAST: &[&str] = &[
    "America/Toronto",
    "America/Halifax",
    "America/Puerto_Rico",
    "America/Moncton",
];
const SK: &[&str] = &["America/Regina", "America/Edmonton", "America/Winnipeg"];
const NORTH: &[&str] = &[
    "America/Whitehorse",
    "America/Dawson",
    "America/Edmonton",
    "America/Inuvik",
    "America/Cambridge_Bay",
    "America/Rankin_Inlet",
    "America/Resolute",
    "America/Iqaluit",
    "America/Panama",
];

pub(super) fn province_code(wanted: &str) -> Option<&'static str> {
    PROVINCES
        .iter()
        .find(|(code, name, _, _)| code.eq_ignore_ascii_case(wanted) || name.eq_ignore_ascii_case(wanted))
        .map(|(code, _, _, _)| *code)
}

/// "A1A 1A1" or "A1A1A1" (or just the FSA).
pub(super) fn looks_like_postal_code(postal: &str) -> bool {
    let compact: Vec<char> = postal.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3
        && compact[0].is_ascii_alphabetic()
        && compact[1].is_ascii_digit()
        && compact[2].is_ascii_alphabetic()
}

/// The FSA's zones, by the longest prefix of the table that matches.
fn for_fsa(fsa: &str) -> Option<&'static [&'static str]> {
    FSAS.iter()
        .filter(|(prefix, _)| fsa.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, zones)| *zones)
}

pub(super) fn for_address(region: &str, postal: &str) -> Option<Zones> {
    if looks_like_postal_code(postal) {
        let fsa: String = postal
            .chars()
            .filter(|c| !c.is_whitespace())
            .take(3)
            .collect::<String>()
            .to_ascii_uppercase();
        if let Some(zones) = for_fsa(&fsa) {
            return Zones::of(zones.to_vec(), super::Source::Fsa);
        }
    }
    let code = province_code(region.trim())?;
    let (_, _, _, zones) = PROVINCES.iter().find(|(c, _, _, _)| *c == code)?;
    Zones::of(zones.to_vec(), super::Source::Region)
}

pub(super) fn for_area_code(npa: u16) -> Option<&'static [&'static str]> {
    AREA_CODES
        .binary_search_by_key(&npa, |(a, _)| *a)
        .ok()
        .map(|i| AREA_CODES[i].1)
}

#[cfg(test)]
pub(super) fn every_zone() -> impl Iterator<Item = &'static str> {
    PROVINCES
        .iter()
        .flat_map(|p| p.3.iter())
        .chain(FSAS.iter().flat_map(|f| f.1.iter()))
        .chain(AREA_CODES.iter().flat_map(|a| a.1.iter()))
        .copied()
}

#[cfg(test)]
pub(super) fn area_codes_sorted() -> bool {
    AREA_CODES.windows(2).all(|w| w[0].0 < w[1].0)
}

#[cfg(test)]
pub(super) fn first_letters_cover_their_provinces() -> bool {
    PROVINCES
        .iter()
        .all(|(_, _, letters, _)| letters.chars().all(|l| for_fsa(&format!("{l}0A")).is_some()))
}

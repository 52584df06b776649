//! Addresses compared the way a dispatcher would: "123 North Main Street, Apt 4B" and "123 N Main St #4-B" are one
//! place. Street words are reduced to USPS abbreviations (suffixes, directionals, a few ordinals), the unit is taken
//! from the unit field or the end of the street and stripped of its designator, and ZIP codes compare on five digits.
//! Both sides go through the same reduction, so a rare word that is also an abbreviation ("Court Street") still
//! compares equal to itself.

use serde::{Deserialize, Serialize};

/// An address as a lead or ServiceTitan gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostalAddress {
    pub street: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub city: String,
    pub state: String,
    pub zip: String,
    #[serde(default)]
    pub country: String,
}

/// The comparable form of an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Normalised {
    /// House number ("123", "123a", "12-14", "123 1/2").
    pub number: String,
    /// Street words, abbreviated ("n main st").
    pub street: String,
    /// Unit without its designator ("4b"), if any.
    pub unit: Option<String>,
    pub city: String,
    pub state: String,
    /// First five digits of the ZIP code, or the whole postal code elsewhere ("m5v 2t6").
    pub zip: String,
}

/// How two addresses relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sameness {
    /// The same dwelling.
    Same,
    /// The same building, another (or an unstated) unit.
    SameBuilding,
    Different,
}

const UNIT_WORDS: &[&str] = &[
    "apt",
    "apartment",
    "unit",
    "ste",
    "suite",
    "no",
    "num",
    "number",
    "rm",
    "room",
    "fl",
    "floor",
    "lot",
    "spc",
    "space",
    "trlr",
    "trailer",
    "bldg",
    "building",
    "dept",
    "ph",
    "penthouse",
];

/// USPS Publication 28 suffixes and directionals (the common ones), and written-out ordinals.
fn abbreviate(word: &str) -> &str {
    match word {
        "alley" | "allee" | "ally" => "aly",
        "avenue" | "av" | "aven" | "avenu" | "avn" | "avnue" => "ave",
        "boulevard" | "boul" | "boulv" => "blvd",
        "circle" | "circ" | "circl" | "crcl" => "cir",
        "court" => "ct",
        "cove" => "cv",
        "crossing" | "crssng" => "xing",
        "drive" | "driv" | "drv" => "dr",
        "expressway" | "expr" | "express" | "expw" => "expy",
        "freeway" | "frway" | "frwy" => "fwy",
        "highway" | "highwy" | "hiway" | "hiwy" | "hway" => "hwy",
        "lane" => "ln",
        "parkway" | "parkwy" | "pkway" | "pky" => "pkwy",
        "place" => "pl",
        "plaza" | "plza" => "plz",
        "point" => "pt",
        "road" => "rd",
        "route" => "rte",
        "square" | "sqr" | "sqre" | "squ" => "sq",
        "street" | "str" | "strt" | "streets" => "st",
        "saint" => "st",
        "terrace" | "terr" => "ter",
        "trail" | "trails" | "trls" => "trl",
        "turnpike" | "trnpk" | "turnpk" => "tpke",
        "way" | "wy" => "way",
        "center" | "centre" | "cent" | "centr" | "cntr" => "ctr",
        "heights" | "ht" => "hts",
        "ridge" => "rdg",
        "creek" => "crk",
        "grove" => "grv",
        "meadows" => "mdws",
        "meadow" => "mdw",
        "estates" => "ests",
        "village" | "vill" | "villag" | "villg" => "vlg",
        "valley" | "vally" | "vlly" => "vly",
        "view" => "vw",
        "mount" => "mt",
        "mountain" | "mntain" | "mntn" => "mtn",
        "north" => "n",
        "south" => "s",
        "east" => "e",
        "west" => "w",
        "northeast" => "ne",
        "northwest" => "nw",
        "southeast" => "se",
        "southwest" => "sw",
        "first" => "1st",
        "second" => "2nd",
        "third" => "3rd",
        "fourth" => "4th",
        "fifth" => "5th",
        "sixth" => "6th",
        "seventh" => "7th",
        "eighth" => "8th",
        "ninth" => "9th",
        "tenth" => "10th",
        other => other,
    }
}

/// Lowercase words of letters and digits, with "N.E." kept as one word ("ne") and `#` as its own word.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in s.split(|c: char| c.is_whitespace() || c == ',') {
        let mut rest = raw;
        // "#4B" → "#", "4B"
        while let Some(stripped) = rest.strip_prefix('#') {
            out.push("#".to_owned());
            rest = stripped;
        }
        let w: String = rest
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '/')
            .flat_map(char::to_lowercase)
            .collect();
        let w = w.trim_matches('-').to_owned();
        if !w.is_empty() {
            out.push(w);
        }
    }
    out
}

/// A unit's identifier without designator or punctuation: "Apt. 4-B", "#4B", "unit 4 b" → "4b".
pub fn unit_id(s: &str) -> Option<String> {
    let id: String = words(s)
        .into_iter()
        .filter(|w| w != "#" && !UNIT_WORDS.contains(&w.as_str()))
        .collect::<String>()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Splits "123 N Main St Apt 4B" into the street part and the unit ("4b"). A designator counts only after the house
/// number and a street word, and only when a unit-like word follows it ("9 Suite Rd" is a street); a bare trailing
/// "4B" right after a suffix ("123 Main St 4B") is a unit too, except on numbered roads ("Hwy 71").
fn split_unit(w: &[String]) -> (Vec<String>, Option<String>) {
    let unit_like =
        |s: &str| s.chars().any(|c| c.is_ascii_digit()) || (s.len() <= 2 && s.chars().all(char::is_alphabetic));
    for i in 1..w.len() {
        let designator = UNIT_WORDS.contains(&w[i].as_str());
        let starts_unit = if w[i] == "#" {
            true
        } else {
            designator && i >= 2 && w.get(i + 1).is_some_and(|n| unit_like(n)) && w.len() - i <= 3
        };
        if starts_unit {
            return (w[..i].to_vec(), unit_id(&w[i..].join(" ")));
        }
    }
    if w.len() >= 4 {
        let (last, before) = (&w[w.len() - 1], abbreviate(&w[w.len() - 2]));
        if last.chars().any(|c| c.is_ascii_digit()) && SUFFIXES.contains(&before) {
            return (w[..w.len() - 1].to_vec(), unit_id(last));
        }
    }
    (w.to_vec(), None)
}

/// Suffixes after which a trailing number is a unit (numbered roads such as "Hwy 71" or "Rte 9" are left out).
const SUFFIXES: &[&str] = &[
    "st", "ave", "rd", "dr", "ln", "ct", "blvd", "way", "pl", "cir", "ter", "pkwy", "trl", "cv", "sq", "aly", "plz",
];

fn is_number_word(w: &str) -> bool {
    w.chars().next().is_some_and(|c| c.is_ascii_digit())
}

impl PostalAddress {
    pub fn normalise(&self) -> Normalised {
        let all = words(&self.street);
        let (street_words, unit_in_street) = split_unit(&all);
        let mut number = String::new();
        let mut rest = street_words.as_slice();
        if let Some(first) = rest.first().filter(|w| is_number_word(w)) {
            number = first.clone();
            rest = &rest[1..];
            // "123 1/2 Main St"
            if let Some(frac) = rest.first().filter(|w| w.contains('/') && is_number_word(w)) {
                number = format!("{number} {frac}");
                rest = &rest[1..];
            }
        }
        let street = rest
            .iter()
            .map(|w| abbreviate(w.trim_end_matches('.')))
            .collect::<Vec<_>>()
            .join(" ");
        let unit = self.unit.as_deref().and_then(unit_id).or(unit_in_street);
        let zip_digits: String = self.zip.chars().filter(char::is_ascii_digit).collect();
        let zip = if zip_digits.len() >= 5 && self.zip.trim().chars().next().is_some_and(|c| c.is_ascii_digit()) {
            zip_digits[..5].to_owned()
        } else {
            self.zip
                .trim()
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        Normalised {
            number,
            street,
            unit,
            city: words(&self.city).join(" "),
            state: self.state.trim().to_lowercase(),
            zip,
        }
    }

    /// Whether the address has what ServiceTitan requires of one (street, city, state, zip).
    pub fn is_complete(&self) -> bool {
        [&self.street, &self.city, &self.state, &self.zip]
            .iter()
            .all(|f| !f.trim().is_empty())
    }
}

impl Normalised {
    /// Whether `self` and `other` are the same dwelling, the same building, or different places. Without a house
    /// number nothing is the same (a street alone is not an address).
    pub fn compare(&self, other: &Normalised) -> Sameness {
        if self.number.is_empty() || self.number != other.number || self.street != other.street {
            return Sameness::Different;
        }
        let same_area = if !self.zip.is_empty() && !other.zip.is_empty() {
            self.zip == other.zip
        } else {
            self.city == other.city && self.state == other.state
        };
        if !same_area {
            return Sameness::Different;
        }
        if self.unit == other.unit {
            Sameness::Same
        } else {
            Sameness::SameBuilding
        }
    }

    /// What to ask ServiceTitan's `street` filter for: the house number, which every spelling of the street shares.
    pub fn search_street(&self) -> Option<&str> {
        (!self.number.is_empty()).then(|| self.number.split(' ').next().unwrap_or(&self.number))
    }

    /// A short human form for evidence and notes ("123 n main st #4b, 78704").
    pub fn display(&self) -> String {
        let unit = self.unit.as_ref().map(|u| format!(" #{u}")).unwrap_or_default();
        format!("{} {}{unit}, {}", self.number, self.street, self.zip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(street: &str, unit: Option<&str>, zip: &str) -> Normalised {
        PostalAddress {
            street: street.into(),
            unit: unit.map(str::to_owned),
            city: "Austin".into(),
            state: "TX".into(),
            zip: zip.into(),
            country: "USA".into(),
        }
        .normalise()
    }

    #[test]
    fn street_spellings_are_one_place() {
        let a = addr("123 North Main Street", None, "78704");
        for other in [
            "123 N Main St",
            "123 N. Main St.",
            "123 north main street",
            "123  N  MAIN  STR",
        ] {
            assert_eq!(a.compare(&addr(other, None, "78704-1234")), Sameness::Same, "{other}");
        }
        assert_eq!(a.street, "n main st");
        assert_eq!(addr("500 W. First Avenue", None, "78704").street, "w 1st ave");
        assert_eq!(addr("500 West 1st Ave", None, "78704").street, "w 1st ave");
    }

    #[test]
    fn a_unit_written_three_ways_is_one_unit() {
        let field = addr("77 Oak Ln", Some("Apt 4B"), "78704");
        let hash = addr("77 Oak Lane #4B", None, "78704");
        let dashed = addr("77 Oak Lane, Unit 4-B", None, "78704");
        assert_eq!(field.unit.as_deref(), Some("4b"));
        assert_eq!(field.compare(&hash), Sameness::Same);
        assert_eq!(field.compare(&dashed), Sameness::Same);
        assert_eq!(hash.street, "oak ln");
        // Another unit, or none, is the same building only.
        assert_eq!(
            field.compare(&addr("77 Oak Ln", Some("5A"), "78704")),
            Sameness::SameBuilding
        );
        assert_eq!(field.compare(&addr("77 Oak Ln", None, "78704")), Sameness::SameBuilding);
    }

    #[test]
    fn different_numbers_streets_or_zips_are_different() {
        let a = addr("123 Main St", None, "78704");
        assert_eq!(a.compare(&addr("125 Main St", None, "78704")), Sameness::Different);
        assert_eq!(a.compare(&addr("123 Main Ave", None, "78704")), Sameness::Different);
        assert_eq!(a.compare(&addr("123 Main St", None, "78745")), Sameness::Different);
        assert_eq!(a.compare(&addr("Main St", None, "78704")), Sameness::Different);
        let no_number = addr("Main St", None, "78704");
        assert_eq!(no_number.compare(&no_number.clone()), Sameness::Different);
        assert_eq!(no_number.search_street(), None);
    }

    #[test]
    fn numbers_keep_letters_halves_and_ranges() {
        assert_eq!(addr("123A Elm St", None, "78704").number, "123a");
        assert_eq!(addr("123 1/2 Elm St", None, "78704").number, "123 1/2");
        assert_eq!(addr("12-14 Elm St", None, "78704").number, "12-14");
        assert_eq!(addr("123 1/2 Elm St", None, "78704").search_street(), Some("123"));
        // A street named like a unit word is not a unit.
        assert_eq!(addr("9 Suite Rd", None, "78704").street, "suite rd");
        assert_eq!(addr("9 Suite Rd", None, "78704").unit, None);
        assert_eq!(addr("40 Penthouse Ln", None, "78704").street, "penthouse ln");
        // A bare unit after the suffix, but not a numbered road.
        assert_eq!(addr("123 Main St 4B", None, "78704").unit.as_deref(), Some("4b"));
        assert_eq!(addr("1200 Highway 71", None, "78704").street, "hwy 71");
        assert_eq!(addr("1200 Hwy 71 Ste 5", None, "78704").unit.as_deref(), Some("5"));
    }

    #[test]
    fn canadian_postal_codes_compare_whole() {
        let a = PostalAddress {
            street: "200 King Street West".into(),
            unit: Some("Suite 1200".into()),
            city: "Toronto".into(),
            state: "ON".into(),
            zip: "M5H 3T4".into(),
            country: "Canada".into(),
        }
        .normalise();
        assert_eq!(a.zip, "m5h 3t4");
        assert_eq!(a.unit.as_deref(), Some("1200"));
        assert_eq!(a.street, "king st w");
    }
}

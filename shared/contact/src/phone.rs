//! Phone numbers as people and ServiceTitan write them ("(512) 555-0100", "512.555.0100", "+1 512 555 0100",
//! "512-555-0100 x12") parsed and checked with libphonenumber's rules, kept in E.164. An extension is not part of
//! the number that texts and calls reach: it is dropped, and never glued onto the digits before it.

use std::fmt;
use std::str::FromStr;

use phonenumber::{Mode, country};

/// A valid phone number, E.164 (`+15125550100`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// Why a phone number was refused (a field error's reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is not a phone number")]
    NotANumber,
    #[error("is not a valid phone number for {0} (add the country code, e.g. +44 for the UK)")]
    Invalid(String),
    #[error("unknown country {0:?}; use a two-letter code such as US or CA")]
    UnknownRegion(String),
}

impl Phone {
    /// Parses `input`, reading numbers without a country code as `region`'s (a two-letter code, e.g. `US`).
    pub fn parse(input: &str, region: &str) -> Result<Self, PhoneError> {
        let id = country::Id::from_str(&region.to_ascii_uppercase())
            .map_err(|_| PhoneError::UnknownRegion(region.to_owned()))?;
        if !input.chars().any(|c| c.is_ascii_digit()) {
            return Err(PhoneError::NotANumber);
        }
        let number = phonenumber::parse(Some(id), without_extension(input)).map_err(|_| PhoneError::NotANumber)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid(region.to_ascii_uppercase()));
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// An E.164 string already checked (e.g. read back from storage).
    pub fn from_e164(e164: &str) -> Option<Self> {
        Self::parse(e164, "US").ok().filter(|p| p.0 == e164)
    }

    pub fn e164(&self) -> &str {
        &self.0
    }

    /// The number as ServiceTitan's phone search and contacts take it: national digits for North American numbers
    /// (`5125550100`), E.164 otherwise.
    pub fn for_servicetitan(&self) -> String {
        match self.0.strip_prefix("+1") {
            Some(national) if national.len() == 10 => national.to_owned(),
            _ => self.0.clone(),
        }
    }

    /// Whether a ServiceTitan contact value ("512-555-0100", "(512) 555-0100 x12") is this number.
    pub fn matches(&self, value: &str) -> bool {
        let digits: String = value
            .split(['x', 'X'])
            .next()
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let mine: String = self.0.chars().filter(char::is_ascii_digit).collect();
        !digits.is_empty() && (digits == mine || (self.0.starts_with("+1") && format!("1{digits}") == mine))
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number as a ledger key: E.164, reading numbers without a country code as North American (ServiceTitan's
/// tenants are in the US and Canada); `None` when it is not a valid number.
pub fn e164(raw: &str) -> Option<String> {
    Phone::parse(raw, "US").ok().map(|p| p.0)
}

/// `input` without an extension: what follows `x`, `ext`, `extension`, `#`, `,` or `;` after the number's digits.
/// libphonenumber knows most of these forms, but not all ("5125550100,12" would read as one longer number), and an
/// extension glued onto the digits could make another person's number.
fn without_extension(input: &str) -> &str {
    let lower = input.to_ascii_lowercase();
    let cut = ["ext", "x", "#", ",", ";", "/"]
        .iter()
        .filter_map(|marker| {
            // Only after some digits: a leading "+" or "(" is part of the number.
            let first_digit = lower.find(|c: char| c.is_ascii_digit())?;
            lower[first_digit..].find(marker).map(|i| i + first_digit)
        })
        .min();
    match cut {
        Some(i) => &input[..i],
        None => input,
    }
}

/// The two-letter region for a lead's address country ("USA", "United States", "CA", "Canada"), if known.
pub fn region_of_country(country: &str) -> Option<&'static str> {
    match country.trim().to_ascii_lowercase().replace('.', "").as_str() {
        "us" | "usa" | "united states" | "united states of america" => Some("US"),
        "ca" | "can" | "canada" => Some("CA"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_people_type_become_one_number() {
        for input in [
            "(512) 555-0100",
            "512.555.0100",
            "512 555 0100",
            "+1 512-555-0100",
            "1-512-555-0100",
            "5125550100",
        ] {
            assert_eq!(Phone::parse(input, "US").unwrap().e164(), "+15125550100", "{input}");
        }
        // Canadian numbers share +1.
        assert_eq!(Phone::parse("416 555 0199", "CA").unwrap().e164(), "+14165550199");
        assert_eq!(Phone::parse("416 555 0199", "US").unwrap().e164(), "+14165550199");
        // Another country by its code.
        assert_eq!(Phone::parse("+44 20 7946 0958", "US").unwrap().e164(), "+442079460958");
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        assert_eq!(Phone::parse("call me", "US"), Err(PhoneError::NotANumber));
        assert_eq!(Phone::parse("555-1234", "US"), Err(PhoneError::Invalid("US".into())));
        assert_eq!(
            Phone::parse("(555) 123-4567", "US"),
            Err(PhoneError::Invalid("US".into()))
        );
        assert!(matches!(
            Phone::parse("5125550100", "Texas"),
            Err(PhoneError::UnknownRegion(_))
        ));
    }

    #[test]
    fn servicetitan_forms_and_contact_values() {
        let p = Phone::parse("(512) 555-0100", "US").unwrap();
        assert_eq!(p.for_servicetitan(), "5125550100");
        for v in [
            "512-555-0100",
            "(512) 555-0100",
            "15125550100",
            "+1 512 555 0100",
            "512.555.0100 x12",
        ] {
            assert!(p.matches(v), "{v}");
        }
        assert!(!p.matches("512-555-0101"));
        assert!(!p.matches(""));
        let uk = Phone::parse("+44 20 7946 0958", "US").unwrap();
        assert_eq!(uk.for_servicetitan(), "+442079460958");
        assert_eq!(Phone::from_e164("+15125550100"), Some(p));
        assert_eq!(Phone::from_e164("5125550100"), None);
    }

    #[test]
    fn extensions_are_dropped_and_never_glued_on() {
        for input in [
            "(512) 555-0100 x12",
            "512-555-0100 ext. 3",
            "512.555.0100 Ext 45",
            "5125550100#7",
            "5125550100,12",
            "512 555 0100;ext=9",
            "+1 512 555 0100 extension 200",
        ] {
            assert_eq!(e164(input).as_deref(), Some("+15125550100"), "{input}");
        }
        // An international number with an extension stays that number.
        assert_eq!(e164("+44 20 7946 0958 x12").as_deref(), Some("+442079460958"));
        // Two numbers in one field are the first one, not both glued together.
        assert_eq!(e164("512-555-0100 / 512-555-0101").as_deref(), Some("+15125550100"));
        assert_eq!(e164("ext 12"), None);
    }

    #[test]
    fn countries_by_name() {
        assert_eq!(region_of_country("USA"), Some("US"));
        assert_eq!(region_of_country("Canada"), Some("CA"));
        assert_eq!(region_of_country("U.S."), Some("US"));
        assert_eq!(region_of_country("Mexico"), None);
    }
}

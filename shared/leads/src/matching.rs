//! Which existing customer a lead is, if any, and why. Conservative: a wrong merge sends one household's estimate to
//! another, so a customer is taken only on two agreeing signals —
//!
//! - the same phone and (the same surname or the same address), or
//! - the same address and the same surname.
//!
//! One signal alone (a phone shared by different surnames at different addresses; an address shared by different
//! people, such as a landlord and a tenant or roommates) is not a match: a new customer is made and the possible
//! duplicate is named for the office to review.

use serde::{Deserialize, Serialize};

use crate::address::{Normalised, Sameness};
use crate::names;
use crate::phone::Phone;

/// What the lead says about who it is.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub surname: Option<String>,
    pub phone: Option<Phone>,
    pub address: Option<Normalised>,
}

/// An existing customer found by phone or by address.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub customer_id: i64,
    pub name: String,
    /// A contact of the customer, or of one of its locations, is the lead's phone.
    pub phone_match: bool,
    /// Its locations whose own contacts are the lead's phone.
    pub phone_locations: Vec<i64>,
    /// The bill-to address.
    pub address: Option<Normalised>,
    pub locations: Vec<(i64, Normalised)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    /// One signal only: not the same customer, but the office should look.
    PossibleDuplicate,
}

/// Why a candidate was or was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub customer_id: i64,
    pub name: String,
    pub phone: bool,
    pub surname: bool,
    pub address: Sameness,
    /// The location at the lead's address, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    pub verdict: Verdict,
}

impl Evidence {
    /// "same phone and surname", "same address only", ...
    pub fn signals(&self) -> String {
        let mut same = Vec::new();
        if self.phone {
            same.push("phone");
        }
        if self.surname {
            same.push("surname");
        }
        if self.address == Sameness::Same {
            same.push("address");
        }
        let mut text = match same.as_slice() {
            [] => "nothing in common".to_owned(),
            [one] => format!("same {one} only"),
            [init @ .., last] => format!("same {} and {last}", init.join(", ")),
        };
        if self.address == Sameness::SameBuilding {
            text.push_str(", same building (another unit)");
        }
        text
    }
}

/// Where the lead's work happens, for a matched customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum LocationChoice {
    Existing(i64),
    /// A new location on the customer, at the lead's address.
    New,
    /// The lead gives no address and the customer has several locations (or none): which one is unknown.
    Unresolved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Decision {
    Existing {
        #[serde(rename = "customerId")]
        customer_id: i64,
        location: LocationChoice,
        /// The rule that matched, e.g. "same phone and surname".
        rule: String,
        /// Other customers that matched too (duplicates already in ServiceTitan); the oldest is taken.
        #[serde(rename = "alsoMatched", default, skip_serializing_if = "Vec::is_empty")]
        also_matched: Vec<i64>,
    },
    New {
        /// Customers sharing one signal, for the review note.
        #[serde(rename = "possibleDuplicates", default, skip_serializing_if = "Vec::is_empty")]
        possible_duplicates: Vec<i64>,
    },
}

/// The decision with the evidence for every candidate that shared anything with the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matched {
    pub decision: Decision,
    pub evidence: Vec<Evidence>,
    /// Candidates found by the searches that shared nothing (another house on the street).
    pub unrelated: usize,
}

fn best_address(lead: &Normalised, c: &Candidate) -> (Sameness, Option<i64>) {
    let rank = |s: Sameness| match s {
        Sameness::Same => 2,
        Sameness::SameBuilding => 1,
        Sameness::Different => 0,
    };
    let mut best = (Sameness::Different, None);
    for (id, a) in &c.locations {
        let s = lead.compare(a);
        if rank(s) > rank(best.0) {
            best = (s, (s == Sameness::Same).then_some(*id));
        }
    }
    if let Some(bill_to) = &c.address {
        let s = lead.compare(bill_to);
        if rank(s) > rank(best.0) {
            best = (s, None);
        }
    }
    best
}

fn evidence(lead: &Identity, c: &Candidate) -> Option<Evidence> {
    let phone = lead.phone.is_some() && c.phone_match;
    let surname = match (&lead.surname, names::surname(&c.name)) {
        (Some(a), Some(b)) => names::same_family(a, &b),
        _ => false,
    };
    let (address, location_id) = lead
        .address
        .as_ref()
        .map_or((Sameness::Different, None), |a| best_address(a, c));
    let same_address = address == Sameness::Same;
    let verdict = if (phone && (surname || same_address)) || (same_address && surname) {
        Verdict::Match
    } else if phone || same_address || (address == Sameness::SameBuilding && surname) {
        Verdict::PossibleDuplicate
    } else {
        return None;
    };
    Some(Evidence {
        customer_id: c.customer_id,
        name: c.name.clone(),
        phone,
        surname,
        address,
        location_id,
        verdict,
    })
}

/// A caller who gave nothing but the number (a missed call) is the one customer with that number: nothing is
/// made for them but a note and the text back to the number itself, so the phone alone is enough — unless
/// several customers share it.
fn phone_only_caller(lead: &Identity, evidence: &[Evidence], candidates: &[Candidate]) -> Option<Decision> {
    if lead.surname.is_some() || lead.address.is_some() || lead.phone.is_none() {
        return None;
    }
    let [only] = evidence else { return None };
    if !only.phone {
        return None;
    }
    let c = candidates.iter().find(|c| c.customer_id == only.customer_id)?;
    let location = match (c.locations.as_slice(), c.phone_locations.as_slice()) {
        ([(id, _)], _) | (_, [id]) => LocationChoice::Existing(*id),
        _ => LocationChoice::Unresolved,
    };
    Some(Decision::Existing {
        customer_id: only.customer_id,
        location,
        rule: "same phone (the caller gave nothing else)".into(),
        also_matched: Vec::new(),
    })
}

/// Decides which customer `lead` is among `candidates` (each customer once).
pub fn decide(lead: &Identity, candidates: &[Candidate]) -> Matched {
    let mut evidence_list: Vec<Evidence> = Vec::new();
    let mut unrelated = 0;
    for c in candidates {
        match evidence(lead, c) {
            Some(e) => evidence_list.push(e),
            None => unrelated += 1,
        }
    }
    // The strongest match first (most signals), then the oldest customer.
    let score = |e: &Evidence| u8::from(e.phone) + u8::from(e.surname) + u8::from(e.address == Sameness::Same);
    evidence_list.sort_by(|a, b| {
        (b.verdict == Verdict::Match)
            .cmp(&(a.verdict == Verdict::Match))
            .then(score(b).cmp(&score(a)))
            .then(a.customer_id.cmp(&b.customer_id))
    });
    let decision = match evidence_list.first().filter(|e| e.verdict == Verdict::Match) {
        Some(best) => {
            let chosen = candidates
                .iter()
                .find(|c| c.customer_id == best.customer_id)
                .expect("evidence of a candidate");
            let location = match (&lead.address, best.location_id) {
                (Some(_), Some(id)) => LocationChoice::Existing(id),
                (Some(_), None) => LocationChoice::New,
                (None, _) => match (chosen.locations.as_slice(), chosen.phone_locations.as_slice()) {
                    ([(id, _)], _) => LocationChoice::Existing(*id),
                    (_, [id]) => LocationChoice::Existing(*id),
                    _ => LocationChoice::Unresolved,
                },
            };
            Decision::Existing {
                customer_id: best.customer_id,
                location,
                rule: best.signals(),
                also_matched: evidence_list[1..]
                    .iter()
                    .filter(|e| e.verdict == Verdict::Match)
                    .map(|e| e.customer_id)
                    .collect(),
            }
        }
        None => match phone_only_caller(lead, &evidence_list, candidates) {
            Some(d) => d,
            None => Decision::New {
                possible_duplicates: evidence_list.iter().map(|e| e.customer_id).collect(),
            },
        },
    };
    Matched {
        decision,
        evidence: evidence_list,
        unrelated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::PostalAddress;

    fn at(street: &str, unit: Option<&str>) -> Normalised {
        PostalAddress {
            street: street.into(),
            unit: unit.map(str::to_owned),
            city: "Austin".into(),
            state: "TX".into(),
            zip: "78704".into(),
            country: "USA".into(),
        }
        .normalise()
    }

    fn lead(name: &str, phone: Option<&str>, street: Option<&str>) -> Identity {
        Identity {
            surname: names::surname(name),
            phone: phone.map(|p| Phone::parse(p, "US").unwrap()),
            address: street.map(|s| at(s, None)),
        }
    }

    fn customer(id: i64, name: &str, phone_match: bool, streets: &[&str]) -> Candidate {
        Candidate {
            customer_id: id,
            name: name.into(),
            phone_match,
            phone_locations: Vec::new(),
            address: streets.first().map(|s| at(s, None)),
            locations: streets
                .iter()
                .enumerate()
                .map(|(i, s)| (id * 10 + i as i64, at(s, None)))
                .collect(),
        }
    }

    #[test]
    fn a_family_sharing_a_phone_at_one_address_is_one_customer() {
        let m = decide(
            &lead("Chris Whitfield", Some("512-555-0100"), Some("12 Oak St")),
            &[customer(7, "Dana Whitfield", true, &["12 Oak Street"])],
        );
        assert_eq!(
            m.decision,
            Decision::Existing {
                customer_id: 7,
                location: LocationChoice::Existing(70),
                rule: "same phone, surname and address".into(),
                also_matched: vec![]
            }
        );
    }

    #[test]
    fn a_phone_shared_by_other_surnames_at_other_addresses_is_a_new_customer_to_review() {
        let m = decide(
            &lead("Pat Jones", Some("512-555-0100"), Some("400 Elm St")),
            &[customer(7, "Dana Whitfield", true, &["12 Oak St"])],
        );
        assert_eq!(
            m.decision,
            Decision::New {
                possible_duplicates: vec![7]
            }
        );
        assert_eq!(m.evidence[0].signals(), "same phone only");
        assert_eq!(m.evidence[0].verdict, Verdict::PossibleDuplicate);
    }

    #[test]
    fn landlord_and_tenant_at_one_address_are_two_customers() {
        let m = decide(
            &lead("Maria Lopez", Some("512-555-0177"), Some("12 Oak St")),
            &[customer(9, "Robert Chen", false, &["12 Oak St"])],
        );
        assert_eq!(
            m.decision,
            Decision::New {
                possible_duplicates: vec![9]
            }
        );
        assert_eq!(m.evidence[0].signals(), "same address only");
    }

    #[test]
    fn address_and_surname_match_without_the_phone() {
        let m = decide(
            &lead("Dana Whitfield", Some("512-555-0199"), Some("12 Oak Street")),
            &[customer(7, "Whitfield, Dana", false, &["12 Oak St"])],
        );
        assert!(matches!(m.decision, Decision::Existing { customer_id: 7, .. }));
    }

    #[test]
    fn a_known_customer_at_a_new_address_gets_a_new_location() {
        let m = decide(
            &lead("Dana Whitfield", Some("512-555-0100"), Some("9 Lake Dr")),
            &[customer(7, "Dana Whitfield", true, &["12 Oak St"])],
        );
        match m.decision {
            Decision::Existing {
                customer_id,
                location,
                rule,
                ..
            } => {
                assert_eq!((customer_id, location), (7, LocationChoice::New));
                assert_eq!(rule, "same phone and surname");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_unit_is_not_the_same_address() {
        let mut l = lead("Sam Okafor", Some("512-555-0142"), None);
        l.address = Some(at("77 Oak Ln", Some("4B")));
        let mut c = customer(3, "Ana Silva", false, &[]);
        c.locations = vec![(31, at("77 Oak Ln", Some("5A")))];
        let m = decide(&l, &[c]);
        assert_eq!(
            m.decision,
            Decision::New {
                possible_duplicates: vec![]
            }
        );
        assert_eq!(m.unrelated, 1);
    }

    #[test]
    fn without_an_address_the_only_location_or_the_phone_s_location() {
        let m = decide(
            &lead("Dana Whitfield", Some("512-555-0100"), None),
            &[customer(7, "Dana Whitfield", true, &["12 Oak St"])],
        );
        assert!(matches!(
            m.decision,
            Decision::Existing {
                location: LocationChoice::Existing(70),
                ..
            }
        ));
        let mut two = customer(7, "Dana Whitfield", true, &["12 Oak St", "9 Lake Dr"]);
        let m = decide(
            &lead("Dana Whitfield", Some("512-555-0100"), None),
            std::slice::from_ref(&two),
        );
        assert!(matches!(
            m.decision,
            Decision::Existing {
                location: LocationChoice::Unresolved,
                ..
            }
        ));
        two.phone_locations = vec![71];
        let m = decide(&lead("Dana Whitfield", Some("512-555-0100"), None), &[two]);
        assert!(matches!(
            m.decision,
            Decision::Existing {
                location: LocationChoice::Existing(71),
                ..
            }
        ));
    }

    #[test]
    fn duplicates_already_in_servicetitan_take_the_strongest_then_the_oldest() {
        let m = decide(
            &lead("Dana Whitfield", Some("512-555-0100"), Some("12 Oak St")),
            &[
                customer(20, "Dana Whitfield", true, &["12 Oak St"]),
                customer(8, "Dana Whitfield", true, &["99 Far Rd"]),
                customer(11, "D Whitfield", true, &["12 Oak St"]),
            ],
        );
        match m.decision {
            Decision::Existing {
                customer_id,
                also_matched,
                ..
            } => {
                assert_eq!(customer_id, 11, "all three signals, older than 20");
                assert_eq!(also_matched, vec![20, 8]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decisions_round_trip_through_json() {
        let m = decide(
            &lead("Chris Whitfield", Some("512-555-0100"), Some("12 Oak St")),
            &[
                customer(7, "Dana Whitfield", true, &["12 Oak Street"]),
                customer(9, "Pat Jones", true, &["4 Elm St"]),
            ],
        );
        let back: Matched = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        let new = decide(&lead("Pat Jones", None, Some("4 Elm St")), &[]);
        assert_eq!(
            serde_json::from_value::<Matched>(serde_json::to_value(&new).unwrap()).unwrap(),
            new
        );
    }

    #[test]
    fn a_caller_with_only_a_number_is_the_one_customer_with_it() {
        let caller = Identity {
            phone: Some(Phone::parse("512-555-0100", "US").unwrap()),
            ..Identity::default()
        };
        let m = decide(&caller, &[customer(7, "Dana Whitfield", true, &["12 Oak St"])]);
        assert_eq!(
            m.decision,
            Decision::Existing {
                customer_id: 7,
                location: LocationChoice::Existing(70),
                rule: "same phone (the caller gave nothing else)".into(),
                also_matched: vec![]
            }
        );
        // Two customers share the number: nobody is assumed.
        let m = decide(
            &caller,
            &[
                customer(7, "Dana Whitfield", true, &["12 Oak St"]),
                customer(9, "Pat Jones", true, &["4 Elm St"]),
            ],
        );
        assert_eq!(
            m.decision,
            Decision::New {
                possible_duplicates: vec![7, 9]
            }
        );
    }

    #[test]
    fn a_first_name_alone_vouches_for_nothing() {
        let m = decide(
            &lead("Dana", Some("512-555-0100"), Some("400 Elm St")),
            &[customer(7, "Dana Whitfield", true, &["12 Oak St"])],
        );
        assert_eq!(
            m.decision,
            Decision::New {
                possible_duplicates: vec![7]
            }
        );
    }
}

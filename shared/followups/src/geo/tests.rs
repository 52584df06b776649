//! One test per split area: a place on each side of the zone line, and one on the line that gets both zones.

use super::*;

fn zones(state: &str, zip: &str) -> Vec<&'static str> {
    for_address(state, zip, "US")
        .unwrap_or_else(|| panic!("{state} {zip}"))
        .zones
}

fn one(state: &str, zip: &str) -> &'static str {
    let z = zones(state, zip);
    assert_eq!(z.len(), 1, "{state} {zip}: {z:?}");
    z[0]
}

fn both(state: &str, zip: &str, expected: &[&str]) {
    let mut z = zones(state, zip);
    z.sort_unstable();
    let mut e = expected.to_vec();
    e.sort_unstable();
    assert_eq!(z, e, "{state} {zip}");
}

#[test]
fn nebraska() {
    assert_eq!(one("NE", "68102"), "America/Chicago", "Omaha");
    assert_eq!(one("NE", "69101"), "America/Chicago", "North Platte");
    assert_eq!(one("NE", "69361"), "America/Denver", "Scottsbluff");
    both("NE", "69201", &["America/Chicago", "America/Denver"]);
}

#[test]
fn texas() {
    assert_eq!(one("TX", "78701"), "America/Chicago", "Austin");
    assert_eq!(one("TX", "79830"), "America/Chicago", "Alpine");
    assert_eq!(one("TX", "79901"), "America/Denver", "El Paso");
    both("TX", "79942", &["America/Chicago", "America/Denver"]);
}

#[test]
fn florida() {
    assert_eq!(one("FL", "32501"), "America/Chicago", "Pensacola");
    assert_eq!(one("FL", "32401"), "America/Chicago", "Panama City");
    assert_eq!(one("FL", "32301"), "America/New_York", "Tallahassee");
    assert_eq!(one("FL", "33101"), "America/New_York", "Miami");
    both("FL", "32456", &["America/Chicago", "America/New_York"]);
}

#[test]
fn tennessee() {
    assert_eq!(one("TN", "37203"), "America/Chicago", "Nashville");
    assert_eq!(one("TN", "38103"), "America/Chicago", "Memphis");
    assert_eq!(one("TN", "37902"), "America/New_York", "Knoxville");
    assert_eq!(one("TN", "37402"), "America/New_York", "Chattanooga");
    both("TN", "37405", &["America/Chicago", "America/New_York"]);
}

#[test]
fn kentucky() {
    assert_eq!(one("KY", "42101"), "America/Chicago", "Bowling Green");
    assert_eq!(one("KY", "42001"), "America/Chicago", "Paducah");
    assert_eq!(one("KY", "40202"), "America/Kentucky/Louisville", "Louisville");
    assert_eq!(one("KY", "42501"), "America/New_York", "Somerset");
    assert!(zones("KY", "42712").len() >= 2, "on the line");
}

#[test]
fn indiana() {
    assert_eq!(one("IN", "46402"), "America/Chicago", "Gary");
    assert_eq!(one("IN", "47708"), "America/Chicago", "Evansville");
    assert_eq!(one("IN", "46534"), "America/Indiana/Knox", "Knox");
    assert_eq!(one("IN", "46204"), "America/Indiana/Indianapolis", "Indianapolis");
    assert!(zones("IN", "46365").len() >= 2, "on the line");
}

#[test]
fn michigan() {
    assert_eq!(one("MI", "49858"), "America/Menominee", "Menominee");
    assert_eq!(one("MI", "49938"), "America/Menominee", "Ironwood");
    assert_eq!(one("MI", "49855"), "America/Detroit", "Marquette");
    assert_eq!(one("MI", "48226"), "America/Detroit", "Detroit");
    both("MI", "49807", &["America/Detroit", "America/Menominee"]);
}

#[test]
fn north_dakota() {
    assert_eq!(one("ND", "58501"), "America/Chicago", "Bismarck");
    assert_eq!(one("ND", "58601"), "America/Denver", "Dickinson");
    assert_eq!(one("ND", "58554"), "America/North_Dakota/New_Salem", "Mandan");
    assert!(zones("ND", "58535").len() >= 2, "Flasher, on the line");
}

#[test]
fn south_dakota() {
    assert_eq!(one("SD", "57104"), "America/Chicago", "Sioux Falls");
    assert_eq!(one("SD", "57701"), "America/Denver", "Rapid City");
    both("SD", "57501", &["America/Chicago", "America/Denver"]);
}

#[test]
fn kansas() {
    assert_eq!(one("KS", "67202"), "America/Chicago", "Wichita");
    assert_eq!(one("KS", "67735"), "America/Denver", "Goodland");
    both("KS", "67857", &["America/Chicago", "America/Denver"]);
}

#[test]
fn idaho() {
    assert_eq!(one("ID", "83814"), "America/Los_Angeles", "Coeur d'Alene");
    assert_eq!(one("ID", "83501"), "America/Los_Angeles", "Lewiston");
    assert_eq!(one("ID", "83702"), "America/Boise", "Boise");
    both("ID", "83522", &["America/Boise", "America/Los_Angeles"]);
}

#[test]
fn oregon() {
    assert_eq!(one("OR", "97201"), "America/Los_Angeles", "Portland");
    assert_eq!(one("OR", "97914"), "America/Boise", "Ontario");
    both("OR", "97905", &["America/Boise", "America/Los_Angeles"]);
}

#[test]
fn arizona_keeps_no_dst_but_the_navajo_nation_does_and_the_hopi_do_not() {
    assert_eq!(one("AZ", "85001"), "America/Phoenix", "Phoenix");
    assert_eq!(one("AZ", "86001"), "America/Phoenix", "Flagstaff");
    assert_eq!(one("AZ", "86515"), "America/Denver", "Window Rock");
    assert_eq!(one("AZ", "86033"), "America/Denver", "Kayenta");
    both("AZ", "86039", &["America/Denver", "America/Phoenix"]); // Kykotsmovi, Hopi beside Navajo land
}

#[test]
fn territories_and_alaska() {
    assert_eq!(one("PR", "00901"), "America/Puerto_Rico");
    assert_eq!(one("VI", "00802"), "America/St_Thomas");
    assert_eq!(one("GU", "96910"), "Pacific/Guam");
    assert_eq!(one("MP", "96950"), "Pacific/Saipan");
    assert_eq!(one("AS", "96799"), "Pacific/Pago_Pago");
    assert_eq!(one("AK", "99546"), "America/Adak");
}

#[test]
fn a_zip_the_data_does_not_list_gets_every_zone_of_its_area_or_its_states() {
    // Inside a split area, a ZIP in none of the data's ranges gets the area's zones.
    let gap = (79800..80000u32)
        .find(|z| {
            let z = *z;
            !zones_data::ZIP5.iter().any(|(lo, hi, _)| (*lo..=*hi).contains(&z))
        })
        .expect("an unlisted ZIP in 798xx–799xx");
    let z = for_zip(&gap.to_string()).unwrap();
    assert_eq!(z.source, Source::Zip3);
    assert!(
        z.zones.contains(&"America/Chicago") && z.zones.contains(&"America/Denver"),
        "{gap}: {z:?}"
    );
    // No ZIP at all: the state's zones.
    let tx = for_address("Texas", "", "USA").unwrap();
    assert_eq!(
        (tx.zones.clone(), tx.source),
        (vec!["America/Chicago", "America/Denver"], Source::Region)
    );
    assert_eq!(for_address("Narnia", "", "USA"), None);
    // A ZIP from another state than the one written: both places.
    let mixed = zones("CA", "10001");
    assert!(
        mixed.contains(&"America/New_York") && mixed.contains(&"America/Los_Angeles"),
        "{mixed:?}"
    );
    assert_eq!(region_code("new york", "USA"), Some("NY"));
}

#[test]
fn canada_by_fsa() {
    let fsa = |postal: &str| for_address("", postal, "Canada").unwrap().zones;
    assert_eq!(fsa("M5V 2T6"), vec!["America/Toronto"]);
    assert_eq!(fsa("A1C 5M2"), vec!["America/St_Johns"], "St. John's");
    assert_eq!(fsa("A0P 1C0"), vec!["America/Goose_Bay"], "Labrador");
    assert_eq!(fsa("A2V 1A1"), vec!["America/Goose_Bay"], "Labrador City");
    assert_eq!(fsa("S4P 3Y2"), vec!["America/Regina"], "Saskatchewan keeps no DST");
    assert_eq!(
        fsa("S9V 0A1"),
        vec!["America/Edmonton"],
        "Lloydminster keeps Alberta time"
    );
    assert_eq!(fsa("P7B 5E1"), vec!["America/Toronto"], "Thunder Bay is Eastern");
    assert!(fsa("P9N 1A1").contains(&"America/Winnipeg"), "Kenora is Central");
    assert!(fsa("P0T 1C0").contains(&"America/Panama"), "Atikokan keeps EST");
    assert_eq!(fsa("G4T 1A1"), vec!["America/Halifax"], "Magdalen Islands");
    assert_eq!(
        fsa("V1C 1A1"),
        vec!["America/Edmonton", "America/Vancouver"],
        "Cranbrook"
    );
    assert_eq!(fsa("v6b1a1"), vec!["America/Vancouver"], "any case and spacing");
    // A province without a postal code: its zones.
    assert_eq!(
        for_address("Saskatchewan", "", "CA").unwrap().zones,
        vec!["America/Regina", "America/Edmonton", "America/Winnipeg"]
    );
    assert_eq!(region_code("Ontario", "Canada"), Some("ON"));
    assert!(canada::first_letters_cover_their_provinces());
}

#[test]
fn area_codes() {
    assert_eq!(
        for_phone("+15125550100").unwrap().zones,
        vec!["America/Chicago"],
        "512 Austin"
    );
    let el_paso = for_phone("+19155550100").unwrap().zones;
    assert!(el_paso.contains(&"America/Denver"), "915 El Paso: {el_paso:?}");
    assert_eq!(
        for_phone("+14165550100").unwrap().zones,
        vec!["America/Toronto"],
        "416 Toronto"
    );
    assert!(
        for_phone("+18075550100").unwrap().zones.len() >= 3,
        "807 NW Ontario spans zones"
    );
    assert_eq!(for_phone("+442079460958"), None);
    assert!(canada::area_codes_sorted());
}

#[test]
fn every_zone_in_the_tables_exists() {
    let all = zones_data::ZONES
        .iter()
        .copied()
        .chain(STATES.iter().flat_map(|s| s.2.iter().copied()))
        .chain(canada::every_zone());
    for tz in all {
        assert!(jiff::tz::TimeZone::get(tz).is_ok(), "{tz}");
    }
    // The generated tables are sorted, so binary search finds everything.
    assert!(zones_data::ZIP3.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(zones_data::ZIP5.windows(2).all(|w| w[0].1 < w[1].0));
    assert!(zones_data::AREA_CODES.windows(2).all(|w| w[0].0 < w[1].0));
}

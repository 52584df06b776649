//! Surnames out of the ways a household's name is written: "Dana Whitfield", "Whitfield, Dana", "Dana & Chris
//! Whitfield", "The Whitfield Family", "Dr. Dana Whitfield-Ortiz Jr.", "José García" (accents folded).

const HONORIFICS: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir"];
const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "v", "md", "phd", "esq"];
const HOUSEHOLD: &[&str] = &["the", "family", "residence", "household"];

/// Folds common Latin accents to ASCII so "García" and "Garcia" compare equal.
fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

fn clean_words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == '&' || c == '+' || c == '/')
        .map(|w| {
            w.chars()
                .flat_map(char::to_lowercase)
                .map(fold)
                .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '\'')
                .collect::<String>()
                .trim_matches(|c| c == '-' || c == '\'')
                .to_owned()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The family name of `name`, lowercased and folded, if it has one.
pub fn surname(name: &str) -> Option<String> {
    // "Whitfield, Dana": the part before the comma (unless it is only a suffix: "Dana Whitfield, Jr.").
    if let Some((before, after)) = name.split_once(',') {
        let after_words = clean_words(after);
        let only_suffix = !after_words.is_empty() && after_words.iter().all(|w| SUFFIXES.contains(&w.as_str()));
        if !only_suffix {
            let words: Vec<String> = clean_words(before)
                .into_iter()
                .filter(|w| !HONORIFICS.contains(&w.as_str()) && !HOUSEHOLD.contains(&w.as_str()))
                .collect();
            return words.last().cloned();
        }
        return surname(before);
    }
    let all = clean_words(name);
    let household = all.iter().any(|w| HOUSEHOLD.contains(&w.as_str()));
    let words: Vec<String> = all
        .into_iter()
        .filter(|w| {
            !HONORIFICS.contains(&w.as_str())
                && !SUFFIXES.contains(&w.as_str())
                && !HOUSEHOLD.contains(&w.as_str())
                && w != "and"
        })
        .collect();
    // A single word ("Dana") is a first name when nothing else is given; it cannot vouch for a household. With a
    // household word ("Whitfield Residence") it is the family name.
    if words.len() < 2 && !household {
        return None;
    }
    words.last().cloned()
}

/// A first name for greetings ("Hi Dana"), if `name` has one.
pub fn first_name(name: &str) -> Option<String> {
    if clean_words(name).iter().any(|w| HOUSEHOLD.contains(&w.as_str())) {
        return None;
    }
    let source = match name.split_once(',') {
        Some((_, after)) if !clean_words(after).iter().all(|w| SUFFIXES.contains(&w.as_str())) => after,
        _ => name,
    };
    source
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .find(|w| {
            !w.is_empty()
                && !HONORIFICS.contains(&w.to_lowercase().as_str())
                && !HOUSEHOLD.contains(&w.to_lowercase().as_str())
        })
        .map(str::to_owned)
}

/// Whether two surnames name the same family: equal, or sharing a part of a double-barrelled name
/// ("whitfield-ortiz" and "ortiz").
pub fn same_family(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let parts = |s: &str| {
        s.split('-')
            .filter(|p| p.len() >= 2)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (pa, pb) = (parts(a), parts(b));
    pa.iter().any(|p| pb.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surnames_from_the_usual_forms() {
        for (name, want) in [
            ("Dana Whitfield", Some("whitfield")),
            ("Whitfield, Dana", Some("whitfield")),
            ("Dana & Chris Whitfield", Some("whitfield")),
            ("Dana and Chris Whitfield", Some("whitfield")),
            ("The Whitfield Family", Some("whitfield")),
            ("Whitfield Residence", Some("whitfield")),
            ("Dr. Dana Whitfield Jr.", Some("whitfield")),
            ("Dana Whitfield, Jr.", Some("whitfield")),
            ("José García", Some("garcia")),
            ("Mary O'Brien", Some("o'brien")),
            ("Dana Whitfield-Ortiz", Some("whitfield-ortiz")),
            ("Dana", None),
            ("", None),
        ] {
            assert_eq!(surname(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn first_names_for_greetings() {
        assert_eq!(first_name("Dana Whitfield").as_deref(), Some("Dana"));
        assert_eq!(first_name("Whitfield, Dana").as_deref(), Some("Dana"));
        assert_eq!(first_name("Dr. Dana Whitfield").as_deref(), Some("Dana"));
        assert_eq!(first_name("The Whitfield Family"), None);
        assert_eq!(first_name("").as_deref(), None);
    }

    #[test]
    fn families_compare_on_any_part() {
        assert!(same_family("whitfield", "whitfield"));
        assert!(same_family("whitfield-ortiz", "ortiz"));
        assert!(!same_family("whitfield", "whitford"));
        assert!(!same_family("lee", "li"));
    }
}

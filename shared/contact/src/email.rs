//! Email addresses as ledger keys.

use email_address::{EmailAddress, Options};

/// The bare address of `raw` ("Mary <Mary@Example.com>", "<mary@example.com>", " MARY@example.com "), lowercased,
/// or `None` when it is not an email address. The whole address is lowercased: mailbox names are case-sensitive in
/// theory and never in practice, and a person who wrote STOP from "Mary@…" must not be mailed at "mary@…".
pub fn email_key(raw: &str) -> Option<String> {
    let raw = raw.trim();
    // A bare "<address>" (a display name with nothing before the brackets) is the address.
    let raw = raw
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(raw)
        .trim();
    if raw.is_empty() || raw.len() > 320 {
        return None;
    }
    let options = Options::default().with_required_tld().without_domain_literal();
    let parsed = EmailAddress::parse_with_options(raw, options).ok()?;
    let bare = parsed.email();
    (bare.len() <= 254).then(|| bare.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_and_case_are_dropped() {
        for raw in [
            "Mary <Mary@Example.com>",
            "\"Smith, Mary\" <mary@example.com>",
            "<MARY@EXAMPLE.COM>",
            "  mary@example.com ",
            "mary@Example.COM",
        ] {
            assert_eq!(email_key(raw).as_deref(), Some("mary@example.com"), "{raw}");
        }
    }

    #[test]
    fn what_is_not_an_address_is_refused() {
        for raw in [
            "",
            "mary",
            "mary@",
            "@example.com",
            "mary@localhost",
            "mary@[10.0.0.1]",
            "a b@example.com",
        ] {
            assert_eq!(email_key(raw), None, "{raw}");
        }
    }
}

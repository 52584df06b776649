//! How a person is reached, keyed as the person is: every form of one phone number is one key, and so is every
//! form of one email address. The opt-out and consent ledgers, the contact cap and reply matching all key by these,
//! so "(512) 555-0100 x12" and "+1 512 555 0100" are one person, and "Mary <Mary@Example.com>" is mary@example.com.
//!
//! - [`phone`]: numbers parsed with libphonenumber's rules into E.164; an extension is dropped, never glued on.
//! - [`email`]: addresses parsed by `email_address` (display names and angle brackets allowed), lowercased.

pub mod email;
pub mod phone;

pub use email::email_key;
pub use phone::{Phone, PhoneError, e164, region_of_country};

/// An address as the ledgers key it: an email address ([`email_key`]) if it has an `@`, else a phone number
/// ([`e164`]); `None` when it is neither.
pub fn address_key(raw: &str) -> Option<String> {
    if raw.contains('@') { email_key(raw) } else { e164(raw) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_key_per_person() {
        assert_eq!(
            super::address_key("Mary <Mary@Example.com>").as_deref(),
            Some("mary@example.com")
        );
        assert_eq!(super::address_key("(512) 555-0100 x7").as_deref(), Some("+15125550100"));
        assert_eq!(super::address_key("nobody"), None);
    }
}

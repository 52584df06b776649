//! Who gets a follow-up: the customer's contact for the step's channel, honouring ServiceTitan's own flags
//! (`doNotText` on a phone contact, `doNotMail` on the customer, both read live at every send), keyed as the
//! ledgers key them (phone numbers in E.164 without extensions, email addresses bare and lowercased).

use domain::tenant_settings::Channel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactKind {
    MobilePhone,
    Phone,
    Email,
    Fax,
}

/// A customer contact as ServiceTitan lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub kind: ContactKind,
    pub value: String,
    #[serde(default)]
    pub do_not_text: bool,
}

/// Why a step has nobody to go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum NoRecipient {
    #[error("the customer has no phone number")]
    NoPhone,
    #[error("the customer has no email address")]
    NoEmail,
    #[error("every phone number of the customer is marked do-not-text in ServiceTitan")]
    DoNotText,
    #[error("the customer is marked do-not-mail in ServiceTitan")]
    DoNotMail,
    #[error("the customer's phone number is not a valid number")]
    InvalidNumber,
}

impl NoRecipient {
    pub fn code(self) -> &'static str {
        match self {
            Self::NoPhone => "no_phone",
            Self::NoEmail => "no_email",
            Self::DoNotText => "servicetitan_do_not_text",
            Self::DoNotMail => "servicetitan_do_not_mail",
            Self::InvalidNumber => "invalid_phone_number",
        }
    }
}

/// The address for `channel`: an E.164 number for SMS and voice, an email address for email.
pub fn pick(channel: Channel, contacts: &[Contact], do_not_mail: bool) -> Result<String, NoRecipient> {
    let phones = |kind: ContactKind| contacts.iter().filter(move |c| c.kind == kind);
    match channel {
        Channel::Sms => {
            let mut any = false;
            for c in phones(ContactKind::MobilePhone).chain(phones(ContactKind::Phone)) {
                any = true;
                if c.do_not_text {
                    continue;
                }
                return e164(&c.value).ok_or(NoRecipient::InvalidNumber);
            }
            Err(if any {
                NoRecipient::DoNotText
            } else {
                NoRecipient::NoPhone
            })
        }
        Channel::Voice => phones(ContactKind::MobilePhone)
            .chain(phones(ContactKind::Phone))
            .next()
            .ok_or(NoRecipient::NoPhone)
            .and_then(|c| e164(&c.value).ok_or(NoRecipient::InvalidNumber)),
        Channel::Email => {
            if do_not_mail {
                return Err(NoRecipient::DoNotMail);
            }
            contacts
                .iter()
                .filter(|c| c.kind == ContactKind::Email)
                .find_map(|c| contact::email_key(&c.value))
                .ok_or(NoRecipient::NoEmail)
        }
    }
}

/// Phone numbers as ledger keys: one helper, in the `contact` crate.
pub use contact::e164;

/// "Mary Ann Smith" → "Mary"; "Smith, Mary" → "Mary".
pub fn first_name(name: &str) -> Option<String> {
    let name = name.trim();
    let first = match name.split_once(',') {
        Some((_, given)) => given.split_whitespace().next(),
        None => name.split_whitespace().next(),
    }?;
    let looks_like_a_name = first.chars().any(char::is_alphabetic) && !first.contains('@');
    looks_like_a_name.then(|| first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: ContactKind, value: &str, do_not_text: bool) -> Contact {
        Contact {
            kind,
            value: value.into(),
            do_not_text,
        }
    }

    #[test]
    fn phone_numbers_become_e164() {
        assert_eq!(e164("5125550100").as_deref(), Some("+15125550100"));
        assert_eq!(e164("(512) 555-0100").as_deref(), Some("+15125550100"));
        assert_eq!(e164("1-512-555-0100").as_deref(), Some("+15125550100"));
        assert_eq!(e164("+1 512 555 0100").as_deref(), Some("+15125550100"));
        assert_eq!(e164("+44 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(e164("555-0100"), None);
        assert_eq!(e164("0125550100"), None, "area codes do not start with 0");
        assert_eq!(e164("(512) 555-0100 ext 12").as_deref(), Some("+15125550100"));
    }

    #[test]
    fn sms_prefers_mobiles_and_honours_do_not_text() {
        let contacts = [
            c(ContactKind::Phone, "5125550101", false),
            c(ContactKind::MobilePhone, "5125550102", true),
            c(ContactKind::MobilePhone, "5125550103", false),
            c(ContactKind::Email, "Mary@Example.com", false),
        ];
        assert_eq!(pick(Channel::Sms, &contacts, false).as_deref(), Ok("+15125550103"));
        assert_eq!(pick(Channel::Voice, &contacts, false).as_deref(), Ok("+15125550102"));
        assert_eq!(
            pick(Channel::Email, &contacts, false).as_deref(),
            Ok("mary@example.com")
        );
        assert_eq!(pick(Channel::Email, &contacts, true), Err(NoRecipient::DoNotMail));
        let opted = [c(ContactKind::MobilePhone, "5125550102", true)];
        assert_eq!(pick(Channel::Sms, &opted, false), Err(NoRecipient::DoNotText));
        assert_eq!(pick(Channel::Sms, &[], false), Err(NoRecipient::NoPhone));
        assert_eq!(pick(Channel::Email, &opted, false), Err(NoRecipient::NoEmail));
    }

    #[test]
    fn first_names() {
        assert_eq!(first_name("Mary Ann Smith").as_deref(), Some("Mary"));
        assert_eq!(first_name("Smith, Mary").as_deref(), Some("Mary"));
        assert_eq!(first_name("  "), None);
        assert_eq!(first_name("123"), None);
    }
}

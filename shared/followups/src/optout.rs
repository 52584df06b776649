//! What an inbound message means: an opt-out (carrier keywords, and plain wording such as "please stop texting
//! me"), an opt-in (START), a delivery failure that makes an address unreachable, or a reply from a person.
//!
//! Revocation may come "by any reasonable means" (FCC), so plain wording counts; but a reply is only an opt-out when
//! it asks to stop being contacted, so "can you stop by Tuesday?" is a reply, not an opt-out.

use serde::{Deserialize, Serialize};
use shared::tenant_settings::Channel;

/// Which channels an opt-out (or opt-in) covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    All,
    Channels(Vec<Channel>),
}

impl Scope {
    pub fn covers(&self, channel: Channel) -> bool {
        match self {
            Self::All => true,
            Self::Channels(c) => c.contains(&channel),
        }
    }

    /// The ledger's names for the scope: `all`, or channel names.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::All => vec!["all"],
            Self::Channels(c) => c.iter().map(|c| channel_name(*c)).collect(),
        }
    }
}

pub fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "sms",
        Channel::Email => "email",
        Channel::Voice => "voice",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "meaning", rename_all = "snake_case")]
pub enum Meaning {
    OptOut {
        scope: Scope,
    },
    OptIn {
        scope: Scope,
    },
    /// The platform could not deliver to the address (bad number, landline, bounced email).
    Unreachable {
        scope: Scope,
    },
    Reply,
}

/// Carrier opt-out keywords; the whole message must be the keyword.
const STOP_WORDS: &[&str] = &[
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    "opt out",
    "arret",
    "stop please",
    "please stop",
];
/// Keywords that opt out of everything, not just the channel they came on.
const STOP_ALL_WORDS: &[&str] = &["stopall", "stop all", "revoke"];
const START_WORDS: &[&str] = &["start", "unstop", "start please"];

/// Phrases that ask to stop being contacted, anywhere in the message.
const STOP_PHRASES: &[&str] = &[
    "stop texting",
    "stop messaging",
    "stop sending",
    "stop calling",
    "stop contacting",
    "stop emailing",
    "stop the texts",
    "stop these texts",
    "stop the calls",
    "stop the messages",
    "dont text",
    "do not text",
    "dont call",
    "do not call",
    "dont contact",
    "do not contact",
    "dont email",
    "do not email",
    "dont message",
    "do not message",
    "unsubscribe",
    "opt out",
    "opt me out",
    "remove me",
    "take me off",
    "no more texts",
    "no more messages",
    "no more calls",
    "no more emails",
    "leave me alone",
    "wrong number",
    "lose my number",
    "delete my number",
];

/// Lowercase words, apostrophes dropped ("don't" → "dont"), other punctuation as spaces.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\'' || c == '’' {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    format!(" {haystack} ").contains(&format!(" {phrase} "))
}

/// The channels a phrase names ("stop calling" → voice), else the channel it came on.
fn named_scope(words: &str, came_on: Channel) -> Scope {
    if contains_phrase(words, "wrong number") || words.split(' ').any(|w| matches!(w, "all" | "everything")) {
        return Scope::All;
    }
    let mut channels = Vec::new();
    let mentions = |stems: &[&str]| words.split(' ').any(|w| stems.iter().any(|s| w.starts_with(s)));
    if mentions(&["text", "sms", "messag"]) {
        channels.push(Channel::Sms);
    }
    if mentions(&["call", "phon", "ring"]) {
        channels.push(Channel::Voice);
    }
    if mentions(&["email", "mail"]) {
        channels.push(Channel::Email);
    }
    if channels.is_empty() {
        channels.push(came_on);
    }
    Scope::Channels(channels)
}

/// What `text`, received on `channel`, means. `delivery_error` marks a failure report from the platform.
pub fn classify(channel: Channel, text: &str, delivery_error: bool) -> Meaning {
    if delivery_error {
        // Only that channel: a number that cannot take texts may still take calls.
        return Meaning::Unreachable {
            scope: Scope::Channels(vec![channel]),
        };
    }
    let words = normalise(text);
    if STOP_WORDS.contains(&words.as_str()) {
        let scope = if STOP_ALL_WORDS.contains(&words.as_str()) {
            Scope::All
        } else {
            Scope::Channels(vec![channel])
        };
        return Meaning::OptOut { scope };
    }
    if START_WORDS.contains(&words.as_str()) {
        return Meaning::OptIn {
            scope: Scope::Channels(vec![channel]),
        };
    }
    if STOP_PHRASES.iter().any(|p| contains_phrase(&words, p)) {
        return Meaning::OptOut {
            scope: named_scope(&words, channel),
        };
    }
    Meaning::Reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(channels: &[Channel]) -> Meaning {
        Meaning::OptOut {
            scope: Scope::Channels(channels.to_vec()),
        }
    }

    #[test]
    fn carrier_keywords_whole_message_only() {
        for kw in [
            "STOP",
            "stop",
            " Stop. ",
            "UNSUBSCRIBE",
            "cancel",
            "END",
            "Quit",
            "OPT OUT",
            "opt-out",
            "OptOut",
        ] {
            assert_eq!(classify(Channel::Sms, kw, false), out(&[Channel::Sms]), "{kw}");
        }
        for kw in ["STOPALL", "stop all", "REVOKE"] {
            assert_eq!(
                classify(Channel::Sms, kw, false),
                Meaning::OptOut { scope: Scope::All },
                "{kw}"
            );
        }
        assert_eq!(
            classify(Channel::Sms, "START", false),
            Meaning::OptIn {
                scope: Scope::Channels(vec![Channel::Sms])
            }
        );
    }

    #[test]
    fn plain_wording_opts_out_of_what_it_names() {
        assert_eq!(
            classify(Channel::Sms, "please stop texting me", false),
            out(&[Channel::Sms])
        );
        assert_eq!(
            classify(Channel::Sms, "Don't call me again!", false),
            out(&[Channel::Voice])
        );
        assert_eq!(
            classify(Channel::Sms, "stop texting and calling me", false),
            out(&[Channel::Sms, Channel::Voice])
        );
        assert_eq!(
            classify(Channel::Email, "Please remove me from your list", false),
            out(&[Channel::Email])
        );
        assert_eq!(
            classify(Channel::Sms, "wrong number", false),
            Meaning::OptOut { scope: Scope::All }
        );
    }

    #[test]
    fn ordinary_replies_are_replies() {
        for reply in [
            "Can you stop by Tuesday?",
            "Yes please go ahead",
            "What does the estimate include?",
            "I can't make it, can we end at 3 instead?",
            "Stop by after lunch",
        ] {
            assert_eq!(classify(Channel::Sms, reply, false), Meaning::Reply, "{reply}");
        }
    }

    #[test]
    fn delivery_errors_make_the_address_unreachable_on_that_channel() {
        assert_eq!(
            classify(Channel::Sms, "30006 landline or unreachable carrier", true),
            Meaning::Unreachable {
                scope: Scope::Channels(vec![Channel::Sms])
            }
        );
        assert_eq!(classify(Channel::Sms, "landline", false), Meaning::Reply);
    }
}

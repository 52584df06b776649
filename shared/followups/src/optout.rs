//! What an inbound message means: an opt-out, an opt-in (START), a delivery failure that makes an address
//! unreachable, or a reply from a person.
//!
//! Consent is revoked "by any reasonable means", and the words stop, quit, end, revoke, opt out, cancel and
//! unsubscribe in a reply are a revocation (47 CFR 64.1200(a)(10), in force since April 2025). A reply is read as
//! its person wrote it:
//! 1. only the part the person wrote: above a quoted email reply, without a phone's or mail client's signature;
//! 2. normalised: Unicode NFKC, format characters (zero-width spaces, joiners, direction marks) removed, diacritics
//!    folded (ARRÊT reads as ARRET), case, apostrophes and punctuation ignored, whitespace collapsed;
//! 3. then, in order: a whole message that is a keyword (STOP, ALTO, ARRÊT…) or START; an opt-out phrase anywhere
//!    ("please stop texting me", "no me llamen", "wrong number"); a sentence that is a keyword ("Got it. STOP");
//!    a message that starts with a keyword; and finally a keyword anywhere that is not in a known ordinary use
//!    ("can you stop by", "the leak won't stop", "end of the week"). That last rule is the "truly ambiguous" case,
//!    and it reads as an opt-out: a message that should not have been sent is worse than one not sent.
//!
//! The [`Reading`] names the words that decided, for the run's timeline.
//!
//! Scope: an opt-out covers the channel it came on, or the channels it names ("don't call me" → voice), or every
//! channel (STOPALL, REVOKE, "wrong number", "stop everything"). Where the address is a phone number, texts and AI
//! calls are both automated contacts under the TCPA, so a STOP by text also stops AI calls; email is separate.
//! START lifts only the channel it came on.

use std::borrow::Cow;

use domain::tenant_settings::Channel;
use icu_normalizer::{ComposingNormalizer, DecomposingNormalizer};
use icu_properties::CodePointMapData;
use icu_properties::props::GeneralCategory;
use serde::{Deserialize, Serialize};

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

    /// The channels, spelled out: an all-channel opt-out is recorded channel by channel, so that each is lifted on
    /// its own.
    pub fn channels(&self) -> Vec<Channel> {
        match self {
            Self::All => vec![Channel::Sms, Channel::Voice, Channel::Email],
            Self::Channels(c) => c.clone(),
        }
    }

    /// The ledger's names for the channels.
    pub fn names(&self) -> Vec<&'static str> {
        self.channels().into_iter().map(channel_name).collect()
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

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The platform reported a delivery failure.
    DeliveryError,
    /// The whole message is a keyword (with "please", "now" and the like around it).
    Keyword,
    /// An opt-out phrase, anywhere.
    Phrase,
    /// One sentence of the message is a keyword ("Got it, thanks. STOP").
    KeywordSentence,
    /// The message starts with a keyword.
    StartsWithKeyword,
    /// A keyword that is in no ordinary use we know of: ambiguous, so an opt-out.
    AmbiguousKeyword,
    /// START, UNSTOP.
    OptInKeyword,
    /// None of the above.
    Reply,
}

/// What a message means, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reading {
    pub meaning: Meaning,
    pub rule: Rule,
    /// The normalised words that decided ("stop texting", "alto"); none for a reply.
    pub decided_by: Option<String>,
}

// ------------------------------------------------------------------------------------------------------ wording

/// Keywords that opt out wherever they stand, unless in an ordinary use listed in [`ORDINARY`]. The FCC's seven,
/// and the Spanish and French words that mean nothing else.
const KEYWORDS: &[&str] = &[
    "stop",
    "stopall",
    "quit",
    "end",
    "revoke",
    "optout",
    "cancel",
    "unsubscribe",
    "cancelar",
    "detener",
    "detengan",
    "desuscribir",
    "desuscribirme",
    "arret",
    "arreter",
    "arretez",
    "desabonner",
    "desabonnement",
    "desinscrire",
    "desinscription",
    "annuler",
];

/// Words that are an opt-out only as a whole message or sentence: in Spanish and French they are also everyday
/// words ("para el martes", "el precio es alto", "fin de semana").
const SENTENCE_KEYWORDS: &[&str] = &[
    "alto", "para", "pare", "paren", "parar", "baja", "basta", "fin", "no mas", "opt out", "stop all",
];

/// Keywords that opt out of every channel.
const ALL_CHANNEL_KEYWORDS: &[&str] = &["stopall", "stop all", "revoke", "unsubscribe all", "stop everything"];

const START_WORDS: &[&str] = &["start", "unstop", "resume"];

/// Words that may stand around a keyword without changing it ("STOP please", "stop now!!", "Alto por favor").
const FILLERS: &[&str] = &[
    "please",
    "pls",
    "plz",
    "now",
    "thanks",
    "thank",
    "you",
    "thx",
    "ok",
    "okay",
    "asap",
    "already",
    "immediately",
    "right",
    "away",
    "it",
    "sir",
    "maam",
    "por",
    "favor",
    "ya",
    "merci",
    "svp",
    "sil",
    "vous",
    "plait",
    "gracias",
    "just",
    "i",
    "said",
    "again",
    "all",
    "everything",
    "todo",
    "tout",
];

/// Phrases that ask to stop being contacted, anywhere in the message.
const PHRASES: &[&str] = &[
    // English
    "stop texting",
    "stop messaging",
    "stop sending",
    "stop calling",
    "stop contacting",
    "stop emailing",
    "stop the texts",
    "stop the calls",
    "stop the messages",
    "stop the emails",
    "stop these",
    "quit texting",
    "quit calling",
    "quit messaging",
    "quit emailing",
    "quit sending",
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
    "never text",
    "never call",
    "never contact",
    "unsubscribe me",
    "opt me out",
    "opt out",
    "remove me",
    "remove my number",
    "remove my email",
    "take me off",
    "no more texts",
    "no more text",
    "no more messages",
    "no more calls",
    "no more emails",
    "no more of these",
    "leave me alone",
    "wrong number",
    "wrong person",
    "lose my number",
    "delete my number",
    "not interested",
    "want you to stop",
    "need you to stop",
    "please stop",
    "stop please",
    // Spanish
    "no me escriban",
    "no me escribas",
    "no me llamen",
    "no me llames",
    "no me manden",
    "no me envien",
    "no me contacten",
    "no mas mensajes",
    "no mas llamadas",
    "no mas textos",
    "no mas correos",
    "dejen de escrib*",
    "dejen de llam*",
    "dejen de envi*",
    "dejen de mand*",
    "deje de escrib*",
    "deje de llam*",
    "deje de envi*",
    "deja de escrib*",
    "deja de llam*",
    "dar de baja",
    "darme de baja",
    "denme de baja",
    "numero equivocado",
    "no estoy interesado",
    "no estoy interesada",
    "borren mi numero",
    "quiten mi numero",
    "eliminen mi numero",
    // French
    "ne plus m",
    "ne m envoyez plus",
    "ne m appelez plus",
    "ne me contactez plus",
    "ne m ecrivez plus",
    "arretez de",
    "mauvais numero",
    "pas interesse",
    "pas interessee",
    "desabonnez moi",
    "retirez moi",
    "laissez moi tranquille",
];

/// Ordinary uses of a keyword: (keyword, words that may come right before it, words that may come right after).
const ORDINARY: &[(&str, &[&str], &[&str])] = &[
    (
        "stop",
        &[
            "wont", "doesnt", "didnt", "cant", "couldnt", "wouldnt", "never", "a", "the", "quick", "first", "next",
            "last", "one", "bus", "truck", "water", "leak", "leaking", "dripping", "drip", "rain",
        ],
        &[
            "by",
            "in",
            "over",
            "at",
            "off",
            "on",
            "round",
            "around",
            "leaking",
            "dripping",
            "working",
            "running",
            "the leak",
            "the water",
            "the drip",
        ],
    ),
    (
        "end",
        &[
            "the", "an", "that", "this", "back", "no", "either", "each", "front", "rear", "low", "high", "dead", "far",
            "deep", "week", "tail", "other",
        ],
        &[
            "of", "up", "at", "on", "by", "date", "time", "result", "unit", "table", "cap", "caps", "wall",
        ],
    ),
    (
        "quit",
        &[
            "it",
            "unit",
            "ac",
            "heater",
            "furnace",
            "compressor",
            "thermostat",
            "fan",
            "pump",
            "system",
            "hvac",
            "has",
            "just",
            "finally",
            "keeps",
            "heat",
            "air",
            "motor",
            "blower",
            "dryer",
            "washer",
            "fridge",
        ],
        &["working", "on", "running", "cooling", "heating", "blowing", "again"],
    ),
];

/// Signatures a phone or mail client adds: from the line that starts with one of these, nothing is the person's.
const SIGNATURES: &[&str] = &[
    "sent from my",
    "sent from yahoo",
    "sent from outlook",
    "sent from mail for",
    "sent via",
    "get outlook for",
    "enviado desde mi",
    "enviado desde",
    "envoye de mon",
    "envoye depuis",
    "obtenir outlook pour",
];

// ---------------------------------------------------------------------------------------------------- reading

/// The part of `text` its sender wrote: above a quoted reply ("On … wrote:", "> …", "-----Original Message-----",
/// an Outlook header block), without a signature ("-- ", "Sent from my iPhone").
pub fn person_written(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let folded = fold(trimmed);
        let next = lines[i + 1..]
            .iter()
            .map(|l| fold(l.trim()))
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        let quote_starts = trimmed.starts_with('>')
            || trimmed == "--"
            || trimmed.starts_with("-----")
            || trimmed.starts_with("_____")
            || folded.starts_with("begin forwarded message")
            || ((folded.starts_with("on ") || folded.starts_with("el ") || folded.starts_with("le "))
                && (folded.ends_with("wrote") || folded.ends_with("escribio") || folded.ends_with("a ecrit")))
            || ((folded.starts_with("from ") || folded.starts_with("de "))
                && [
                    "sent ", "date ", "to ", "subject ", "envoye ", "enviado ", "para ", "a ",
                ]
                .iter()
                .any(|h| next.starts_with(h)))
            || SIGNATURES.iter().any(|s| folded.starts_with(s));
        if quote_starts {
            break;
        }
        kept.push(*line);
    }
    kept.join("\n")
}

fn nfkc() -> icu_normalizer::ComposingNormalizerBorrowed<'static> {
    ComposingNormalizer::new_nfkc()
}

/// NFKC, format characters removed, diacritics folded, lowercased; punctuation kept (sentences are cut there).
fn clean(text: &str) -> String {
    let compatible = nfkc().normalize(text);
    let decomposed: Cow<str> = DecomposingNormalizer::new_nfd().normalize(&compatible);
    let categories = CodePointMapData::<GeneralCategory>::new();
    let mut out = String::with_capacity(decomposed.len());
    for c in decomposed.chars() {
        match categories.get(c) {
            GeneralCategory::Format | GeneralCategory::NonspacingMark | GeneralCategory::EnclosingMark => {}
            _ if c == '\u{1F6D1}' => out.push_str(" stop "), // 🛑
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Words of a cleaned text: apostrophes dropped ("don't" → "dont"), except after a French elided letter
/// ("m'appelez" → "m appelez"); every other non-alphanumeric a space.
fn words_of(cleaned: &str) -> Vec<String> {
    let chars: Vec<char> = cleaned.chars().collect();
    let mut out = String::with_capacity(cleaned.len());
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, '\'' | '’' | 'ʼ' | '`') {
            let one_letter_before =
                i >= 1 && chars[i - 1].is_alphabetic() && (i == 1 || !chars[i - 2].is_alphanumeric());
            let word_after = chars
                .get(i + 1..i + 3)
                .is_some_and(|w| w.iter().all(|c| c.is_alphabetic()));
            if one_letter_before && word_after {
                out.push(' ');
            }
            continue;
        }
        out.push(if c.is_alphanumeric() { c } else { ' ' });
    }
    out.split_whitespace().map(str::to_owned).collect()
}

/// Lowercase words of one line, for recognising quote and signature lines.
fn fold(line: &str) -> String {
    words_of(&clean(line)).join(" ")
}

/// Whether `phrase` (words separated by single spaces) occurs in `words`, at a word boundary; its position. A last
/// word ending in `*` is a stem ("dejen de escrib*" matches "dejen de escribirme").
fn find_phrase(words: &[String], phrase: &str) -> Option<usize> {
    let needle: Vec<&str> = phrase.split(' ').collect();
    if needle.len() > words.len() {
        return None;
    }
    let matches = |word: &str, want: &str| match want.strip_suffix('*') {
        Some(stem) => word.starts_with(stem),
        None => word == want,
    };
    (0..=words.len() - needle.len()).find(|&i| needle.iter().enumerate().all(|(j, w)| matches(&words[i + j], w)))
}

fn joined(words: &[String]) -> String {
    words.join(" ")
}

/// The keyword a run of words is, once fillers are set aside ("stop stop please" → "stop"), if it is one.
fn keyword_only<'a>(words: &[String], keywords: &[&'a str]) -> Option<&'a str> {
    let core: Vec<&String> = words.iter().filter(|w| !FILLERS.contains(&w.as_str())).collect();
    if core.is_empty() {
        return None;
    }
    let core_text = core.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(" ");
    // A keyword said several times ("STOP STOP STOP") is that keyword.
    let first = core[0].as_str();
    if core.iter().all(|w| w.as_str() == first)
        && let Some(k) = keywords.iter().find(|k| **k == first)
    {
        return Some(k);
    }
    keywords.iter().find(|k| core_text == **k).copied()
}

/// Whether the keyword at `i` is in an ordinary use.
fn ordinary_use(words: &[String], i: usize) -> bool {
    let Some((_, before, after)) = ORDINARY.iter().find(|(k, _, _)| *k == words[i]) else {
        return false;
    };
    let prev = i.checked_sub(1).map(|p| words[p].as_str());
    let rest = &words[i + 1..];
    prev.is_some_and(|p| before.contains(&p))
        || after.iter().any(|a| {
            let a: Vec<&str> = a.split(' ').collect();
            rest.len() >= a.len() && a.iter().enumerate().all(|(j, w)| rest[j] == *w)
        })
}

/// The channels a message names ("stop calling" → voice), else the channel it came on; everything for "wrong
/// number", "all", "everything".
fn named_scope(words: &[String], came_on: Channel) -> Scope {
    let everything = ["wrong number", "wrong person", "numero equivocado", "mauvais numero"]
        .iter()
        .any(|p| find_phrase(words, p).is_some())
        || words.iter().any(|w| {
            matches!(
                w.as_str(),
                "all" | "everything" | "todo" | "todos" | "tout" | "stopall" | "revoke"
            )
        });
    if everything || ALL_CHANNEL_KEYWORDS.iter().any(|k| find_phrase(words, k).is_some()) {
        return Scope::All;
    }
    let mentions = |stems: &[&str]| words.iter().any(|w| stems.iter().any(|s| w.starts_with(s)));
    let mut channels = Vec::new();
    if mentions(&["text", "sms", "messag", "mensaj", "escrib", "texto"]) {
        channels.push(Channel::Sms);
    }
    if mentions(&["call", "phon", "ring", "llam", "appel"]) {
        channels.push(Channel::Voice);
    }
    if mentions(&["email", "mail", "correo", "courriel"]) {
        channels.push(Channel::Email);
    }
    if channels.is_empty() {
        channels.push(came_on);
    }
    Scope::Channels(channels)
}

/// A phone number that asked to stop texts has asked to stop every automated contact to it: AI calls too.
pub fn for_the_address(scope: Scope, came_on: Channel) -> Scope {
    match scope {
        Scope::Channels(mut c) if came_on != Channel::Email && c.contains(&Channel::Sms) => {
            if !c.contains(&Channel::Voice) {
                c.push(Channel::Voice);
            }
            Scope::Channels(c)
        }
        other => other,
    }
}

fn opt_out(scope: Scope, came_on: Channel, rule: Rule, decided_by: String) -> Reading {
    Reading {
        meaning: Meaning::OptOut {
            scope: for_the_address(scope, came_on),
        },
        rule,
        decided_by: Some(decided_by),
    }
}

/// What `text`, received on `channel`, means. `delivery_error` marks a failure report from the platform.
pub fn read(channel: Channel, text: &str, delivery_error: bool) -> Reading {
    if delivery_error {
        // Only that channel: a number that cannot take texts may still take calls.
        return Reading {
            meaning: Meaning::Unreachable {
                scope: Scope::Channels(vec![channel]),
            },
            rule: Rule::DeliveryError,
            decided_by: None,
        };
    }
    let cleaned = clean(&person_written(text));
    let words = words_of(&cleaned);
    let all_keywords: Vec<&str> = KEYWORDS.iter().chain(SENTENCE_KEYWORDS).copied().collect();
    // 1. The whole message.
    if let Some(k) = keyword_only(&words, &all_keywords) {
        let scope = if ALL_CHANNEL_KEYWORDS.contains(&joined(&words).as_str()) || k == "stopall" || k == "revoke" {
            Scope::All
        } else {
            named_scope(&words, channel)
        };
        return opt_out(scope, channel, Rule::Keyword, joined(&words));
    }
    if keyword_only(&words, START_WORDS).is_some() {
        return Reading {
            meaning: Meaning::OptIn {
                scope: Scope::Channels(vec![channel]),
            },
            rule: Rule::OptInKeyword,
            decided_by: Some(joined(&words)),
        };
    }
    // 2. A phrase anywhere.
    if let Some(p) = PHRASES
        .iter()
        .chain(ALL_CHANNEL_KEYWORDS)
        .find(|p| find_phrase(&words, p).is_some())
    {
        return opt_out(named_scope(&words, channel), channel, Rule::Phrase, (*p).to_owned());
    }
    // 3. A sentence that is a keyword.
    for sentence in cleaned.split(['.', '!', '?', ';', ':', ',', '\n', '-', '—', '(', ')']) {
        let sentence_words = words_of(sentence);
        if let Some(k) = keyword_only(&sentence_words, &all_keywords) {
            return opt_out(
                named_scope(&words, channel),
                channel,
                Rule::KeywordSentence,
                k.to_owned(),
            );
        }
    }
    // 4. The first word, then 5. any word: a keyword not in an ordinary use.
    for (i, w) in words.iter().enumerate() {
        if KEYWORDS.contains(&w.as_str()) && !ordinary_use(&words, i) {
            let rule = if i == 0 {
                Rule::StartsWithKeyword
            } else {
                Rule::AmbiguousKeyword
            };
            let end = (i + 3).min(words.len());
            return opt_out(named_scope(&words, channel), channel, rule, joined(&words[i..end]));
        }
    }
    Reading {
        meaning: Meaning::Reply,
        rule: Rule::Reply,
        decided_by: None,
    }
}

/// [`read`]'s meaning alone.
pub fn classify(channel: Channel, text: &str, delivery_error: bool) -> Meaning {
    read(channel, text, delivery_error).meaning
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_folds_what_people_and_phones_add() {
        assert_eq!(fold("ARRÊT"), "arret");
        assert_eq!(fold("S\u{200B}T\u{200D}O\u{FEFF}P"), "stop");
        assert_eq!(fold("ＳＴＯＰ"), "stop", "full-width letters (NFKC)");
        assert_eq!(fold("No   MÁS!!"), "no mas");
        assert_eq!(fold("Don’t  text me."), "dont text me");
    }

    #[test]
    fn only_what_the_person_wrote_is_read() {
        let email = "Please stop emailing me.\n\nOn Tue, Dec 1, 2026 at 9:00 AM Lone Star <billing@lonestar.example> wrote:\n> Invoice 1042 is overdue. Reply STOP to opt out.";
        assert_eq!(person_written(email).trim(), "Please stop emailing me.");
        let signed = "Sounds good, Tuesday works\n\nSent from my iPhone";
        assert_eq!(person_written(signed).trim(), "Sounds good, Tuesday works");
        let outlook = "Thanks!\n\nFrom: Lone Star Billing\nSent: Tuesday\nTo: Mary\nSubject: Reply STOP to opt out";
        assert_eq!(person_written(outlook).trim(), "Thanks!");
        let spanish = "Gracias\n\nEnviado desde mi iPhone\nSTOP";
        assert_eq!(person_written(spanish).trim(), "Gracias");
    }

    #[test]
    fn a_stop_by_text_stops_calls_to_that_number_too_and_start_lifts_only_its_channel() {
        assert_eq!(
            classify(Channel::Sms, "STOP", false),
            Meaning::OptOut {
                scope: Scope::Channels(vec![Channel::Sms, Channel::Voice])
            }
        );
        assert_eq!(
            classify(Channel::Email, "unsubscribe", false),
            Meaning::OptOut {
                scope: Scope::Channels(vec![Channel::Email])
            }
        );
        assert_eq!(
            classify(Channel::Sms, "Start", false),
            Meaning::OptIn {
                scope: Scope::Channels(vec![Channel::Sms])
            }
        );
        assert_eq!(Scope::All.names(), vec!["sms", "voice", "email"]);
    }

    #[test]
    fn the_deciding_words_are_kept() {
        let r = read(Channel::Sms, "ok thanks. Please stop texting me now", false);
        assert_eq!((r.rule, r.decided_by.as_deref()), (Rule::Phrase, Some("stop texting")));
        let r = read(Channel::Sms, "Cancel my appointment", false);
        assert_eq!(
            (r.rule, r.decided_by.as_deref()),
            (Rule::StartsWithKeyword, Some("cancel my appointment"))
        );
        let r = read(Channel::Sms, "Can you stop by Tuesday?", false);
        assert_eq!((r.meaning, r.decided_by), (Meaning::Reply, None));
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

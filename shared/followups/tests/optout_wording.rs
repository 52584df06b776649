//! Replies as homeowners write them, both ways: every one an opt-out or a reply, with the channels it covers.
//! Collected from how people answer contractors' texts and emails (English, Spanish, French), with the forms phones
//! and mail clients add (signatures, quoted replies, full-width letters, zero-width characters).

use domain::tenant_settings::Channel::{self, Email, Sms, Voice};
use followups::optout::{Meaning, Rule, Scope, classify, read};

/// What a text should mean: an opt-out of these channels, or a reply.
#[derive(Debug, Clone, Copy)]
enum Want {
    Out(&'static [Channel]),
    All,
    Reply,
    In,
}

use Want::*;

/// On SMS: the number's texts and AI calls (a STOP by text stops both).
const PHONE: &[Channel] = &[Sms, Voice];

const TEXTS: &[(Channel, &str, Want)] = &[
    // The carrier and FCC keywords, as people type them.
    (Sms, "STOP", Out(PHONE)),
    (Sms, "stop", Out(PHONE)),
    (Sms, " Stop. ", Out(PHONE)),
    (Sms, "STOP!!!", Out(PHONE)),
    (Sms, "Stop please", Out(PHONE)),
    (Sms, "please stop", Out(PHONE)),
    (Sms, "STOP STOP STOP", Out(PHONE)),
    (Sms, "stop now", Out(PHONE)),
    (Sms, "QUIT", Out(PHONE)),
    (Sms, "End", Out(PHONE)),
    (Sms, "END.", Out(PHONE)),
    (Sms, "Cancel", Out(PHONE)),
    (Sms, "UNSUBSCRIBE", Out(PHONE)),
    (Sms, "opt out", Out(PHONE)),
    (Sms, "Opt-out", Out(PHONE)),
    (Sms, "OptOut", Out(PHONE)),
    (Sms, "Revoke", All),
    (Sms, "STOPALL", All),
    (Sms, "stop all", All),
    (Sms, "🛑", Out(PHONE)),
    // What phones and keyboards do to them.
    (Sms, "ＳＴＯＰ", Out(PHONE)),
    (Sms, "S\u{200B}TOP", Out(PHONE)),
    (Sms, "\u{FEFF}Stop", Out(PHONE)),
    (Sms, "Stop\n\nSent from my iPhone", Out(PHONE)),
    // Starts with a keyword.
    (Sms, "Stop. I already paid this", Out(PHONE)),
    (Sms, "STOP - we went with another company", Out(PHONE)),
    (Sms, "Stop I don't need this anymore", Out(PHONE)),
    (Sms, "Cancel my appointment", Out(PHONE)),
    (Sms, "Quit it", Out(PHONE)),
    (Sms, "End this", Out(PHONE)),
    // A sentence that is a keyword.
    (Sms, "Got it, thanks. STOP", Out(PHONE)),
    (Sms, "We already hired someone. Stop.", Out(PHONE)),
    (Sms, "I said stop", Out(PHONE)),
    // Phrases, naming what to stop.
    (Sms, "Please stop texting me", Out(PHONE)),
    (Sms, "stop texting me!!", Out(PHONE)),
    (Sms, "Don't text me again", Out(PHONE)),
    (Sms, "do not text this number", Out(PHONE)),
    (Sms, "Don't call me", Out(&[Voice])),
    (Sms, "Stop calling me", Out(&[Voice])),
    (Sms, "stop texting and calling me", Out(PHONE)),
    (Sms, "No more texts please", Out(PHONE)),
    (Sms, "no more messages", Out(PHONE)),
    (Sms, "Remove me from your list", Out(PHONE)),
    (Sms, "take me off your list", Out(PHONE)),
    (Sms, "Unsubscribe me", Out(PHONE)),
    (Sms, "leave me alone", Out(PHONE)),
    (Sms, "Not interested", Out(PHONE)),
    (Sms, "not interested, thanks", Out(PHONE)),
    (Sms, "I need you to stop", Out(PHONE)),
    (Sms, "Lose my number", Out(PHONE)),
    (Sms, "Wrong number", All),
    (Sms, "wrong number, I'm not Mary", All),
    (Sms, "This is the wrong person", All),
    (Sms, "stop everything", All),
    (Voice, "please stop calling", Out(&[Voice])),
    (Voice, "take me off your call list", Out(&[Voice])),
    // Email: its own channel, read above the quote and the signature.
    (Email, "unsubscribe", Out(&[Email])),
    (Email, "Please remove me from your mailing list.", Out(&[Email])),
    (
        Email,
        "Stop emailing me.\n\nOn Tue, Dec 1, 2026 at 9:00 AM Lone Star <billing@example.com> wrote:\n> Invoice 1042",
        Out(&[Email]),
    ),
    (
        Email,
        "Don't email me again\n--\nMary Smith\n512-555-0142",
        Out(&[Email]),
    ),
    (Email, "stop texting me too", Out(&[Sms])),
    // Spanish.
    (Sms, "ALTO", Out(PHONE)),
    (Sms, "Alto por favor", Out(PHONE)),
    (Sms, "PARA", Out(PHONE)),
    (Sms, "Baja", Out(PHONE)),
    (Sms, "CANCELAR", Out(PHONE)),
    (Sms, "NO MÁS", Out(PHONE)),
    (Sms, "no mas mensajes", Out(PHONE)),
    (Sms, "No me escriban más", Out(PHONE)),
    (Sms, "No me llamen", Out(&[Voice])),
    (Sms, "Dejen de escribirme", Out(PHONE)),
    (Sms, "Quiero darme de baja", Out(PHONE)),
    (Sms, "Número equivocado", All),
    (Sms, "no estoy interesado", Out(PHONE)),
    // French.
    (Sms, "ARRÊT", Out(PHONE)),
    (Sms, "arret", Out(PHONE)),
    (Sms, "Arrêtez de m'écrire", Out(PHONE)),
    (Sms, "Ne m'appelez plus", Out(&[Voice])),
    (Sms, "Mauvais numéro", All),
    (Email, "Désabonnez-moi", Out(&[Email])),
    // Opt-ins.
    (Sms, "START", In),
    (Sms, "Unstop", In),
    (Sms, "start please", In),
    // Ordinary replies stay replies.
    (Sms, "Can you stop by Tuesday?", Reply),
    (Sms, "Stop by after lunch", Reply),
    (Sms, "Could your tech stop over on Friday?", Reply),
    (Sms, "The leak won't stop", Reply),
    (Sms, "the dripping doesn't stop even with the valve closed", Reply),
    (Sms, "I need the water to stop leaking", Reply),
    (Sms, "End of the week works", Reply),
    (Sms, "I can't make it, can we end at 3 instead?", Reply),
    (Sms, "Is it an end unit? Yes it is", Reply),
    (Sms, "My AC quit working again", Reply),
    (Sms, "the furnace quit on us last night", Reply),
    (Sms, "Yes please go ahead", Reply),
    (Sms, "What does the estimate include?", Reply),
    (Sms, "How much for the second option?", Reply),
    (Sms, "Ok thanks", Reply),
    (Sms, "Thank you!", Reply),
    (Sms, "Who is this?", Reply),
    (Sms, "I paid it yesterday", Reply),
    (Sms, "Can you call me after 5?", Reply),
    (Sms, "Tuesday morning is best", Reply),
    (Sms, "Para el martes está bien", Reply),
    (Sms, "El precio es muy alto", Reply),
    (Sms, "Sí, gracias", Reply),
    (Sms, "Le technicien peut venir demain?", Reply),
    (Sms, "La fin de semaine me convient", Reply),
    (Email, "Thanks, see you then.\n\nSent from my iPhone", Reply),
    (
        Email,
        "Sounds good!\n\nOn Mon, Nov 30 Lone Star wrote:\n> Reply STOP to opt out",
        Reply,
    ),
];

fn expected(channel: Channel, want: Want) -> Meaning {
    match want {
        Out(channels) => Meaning::OptOut {
            scope: Scope::Channels(channels.to_vec()),
        },
        All => Meaning::OptOut { scope: Scope::All },
        Reply => Meaning::Reply,
        In => Meaning::OptIn {
            scope: Scope::Channels(vec![channel]),
        },
    }
}

fn sorted(m: Meaning) -> Meaning {
    match m {
        Meaning::OptOut {
            scope: Scope::Channels(mut c),
        } => {
            c.sort_by_key(|c| followups::optout::channel_name(*c));
            Meaning::OptOut {
                scope: Scope::Channels(c),
            }
        }
        other => other,
    }
}

#[test]
fn real_world_replies_read_both_ways() {
    assert!(TEXTS.len() >= 80, "the table has {} texts", TEXTS.len());
    let wrong: Vec<String> = TEXTS
        .iter()
        .filter_map(|(channel, text, want)| {
            let got = sorted(classify(*channel, text, false));
            let expected = sorted(expected(*channel, *want));
            (got != expected).then(|| format!("{channel:?} {text:?}: got {got:?}, expected {expected:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{} misread:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn every_opt_out_names_the_words_that_decided() {
    for (channel, text, want) in TEXTS {
        let r = read(*channel, text, false);
        match want {
            Reply => assert_eq!((r.rule, &r.decided_by), (Rule::Reply, &None), "{text}"),
            _ => assert!(r.decided_by.as_deref().is_some_and(|w| !w.is_empty()), "{text}: {r:?}"),
        }
    }
}

//! Every rule of the check before send, as a table of cases that differ from an ordinary send in one way.

use super::*;
use crate::facts::Status;
use crate::recipe::Catalogue;
use crate::state_rules::rule_for;
use domain::event::EntityKind;
use jiff::tz::TimeZone;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const ALL: &[Channel] = &[Channel::Sms, Channel::Email, Channel::Voice];

/// An ordinary send, changed field by field.
struct Case {
    recipe: Recipe,
    step: usize,
    facts: Option<Facts>,
    gone: bool,
    now: Timestamp,
    anchor: Timestamp,
    recent: Vec<Sent>,
    opt_outs: OptOuts,
    recipient: Result<&'static str, NoRecipient>,
    held_since: Option<Timestamp>,
    connected: bool,
    enabled: bool,
    channels: &'static [Channel],
    after_hours_notice: bool,
    ai_call_consent: AiCallConsent,
    consent: Option<Recorded>,
    zones: Vec<&'static str>,
    state: Option<&'static str>,
    first_text: bool,
    vars: BTreeMap<&'static str, String>,
}

fn vars() -> BTreeMap<&'static str, String> {
    [
        ("company.name", "Lone Star Home Services".to_owned()),
        ("customer.firstName", "Mary".to_owned()),
        ("estimate.amount", "1,249.00".to_owned()),
        ("invoice.balance", "250.00".to_owned()),
    ]
    .into()
}

impl Case {
    fn recipe(id: &str, now: &str) -> Self {
        let c = Catalogue::load().unwrap();
        let recipe = c.get(id).unwrap().clone();
        let facts = recipe.send_facts_kind().map(|kind| {
            let status = match kind {
                EntityKind::Estimate => Status::Open,
                EntityKind::Invoice => Status::Unpaid,
                EntityKind::Job => Status::Completed,
                _ => Status::Scheduled,
            };
            Facts::new(kind, "1", t("2026-12-01T00:00:00Z"), status)
        });
        Self {
            recipe,
            step: 0,
            facts,
            gone: false,
            now: t(now),
            anchor: t(now),
            recent: Vec::new(),
            opt_outs: OptOuts::default(),
            recipient: Ok("+15125550100"),
            held_since: None,
            connected: true,
            enabled: true,
            channels: ALL,
            after_hours_notice: false,
            ai_call_consent: AiCallConsent::Recorded,
            consent: None,
            zones: vec!["America/Chicago"],
            state: Some("TX"),
            first_text: false,
            vars: vars(),
        }
    }

    /// The estimate follow-up's text, at noon on a Wednesday in Austin.
    fn estimate() -> Self {
        Self::recipe("estimate_follow_up", "2026-12-02T18:00:00Z")
    }

    fn verdict(&self) -> Verdict {
        let policy = Policy {
            zones: self.zones.iter().map(|z| TimeZone::get(z).unwrap()).collect(),
            state: self.state.map(str::to_owned),
            class: self.recipe.message_class,
            tenant_quiet: Some((Time::constant(21, 0, 0, 0), Time::constant(8, 0, 0, 0))),
            recipe_window: self.recipe.window,
        };
        check(&SendInput {
            now: self.now,
            recipe: &self.recipe,
            position: Position {
                step: self.step,
                round: 0,
            },
            deadline: None,
            held_since: self.held_since,
            anchor: self.anchor,
            subject: "estimate:1",
            tenant: TenantRules {
                connected: self.connected,
                recipe_enabled: self.enabled,
                channels: self.channels,
                cap: Cap::default(),
                after_hours_notice: self.after_hours_notice,
                ai_call_consent: &self.ai_call_consent,
            },
            live: if self.gone {
                Live::Gone
            } else {
                Live::Facts(self.facts.as_ref())
            },
            recipient: self.recipient,
            vars: &self.vars,
            opt_outs: self.opt_outs,
            consent: self.consent.as_ref(),
            recent_sends: &self.recent,
            window: &policy,
            first_text: self.first_text,
        })
    }

    fn status(mut self, s: Status) -> Self {
        self.facts.as_mut().unwrap().status = s;
        self
    }
}

fn sent(v: &Verdict) -> &SendPlan {
    match v {
        Verdict::Send(p) => p,
        other => panic!("not sent: {other:?}"),
    }
}

fn deferred(v: &Verdict) -> (Timestamp, &'static str) {
    match v {
        Verdict::Defer { until, reason } => (*until, reason.code()),
        other => panic!("not deferred: {other:?}"),
    }
}

fn skipped(v: &Verdict) -> String {
    match v {
        Verdict::Skip { reason } => reason.code(),
        other => panic!("not skipped: {other:?}"),
    }
}

fn halted(v: &Verdict) -> String {
    match v {
        Verdict::Halt { reason, .. } => reason.code(),
        other => panic!("not halted: {other:?}"),
    }
}

#[test]
fn an_ordinary_send_says_what_goes_and_on_what_basis() {
    let v = Case::estimate().verdict();
    let plan = sent(&v);
    assert!(plan.text.contains("Lone Star Home Services"), "{}", plan.text);
    assert_eq!(plan.consent.basis, "customer_record");
    assert!(!plan.after_hours && !plan.opt_out_notice);
    let c = Case::estimate();
    let tx = Policy::single(
        TimeZone::get("America/Chicago").unwrap(),
        Some("TX".into()),
        c.recipe.message_class,
    );
    assert_eq!(
        Limits::of(Cap::default(), &tx, "estimate:1").state,
        None,
        "Texas has no sales cap"
    );
}

#[test]
fn the_tenant_and_the_recipe_come_first() {
    let mut c = Case::estimate().status(Status::Sold);
    c.connected = false;
    assert_eq!(halted(&c.verdict()), "tenant_disconnected");
    c.connected = true;
    c.enabled = false;
    assert_eq!(halted(&c.verdict()), "recipe_disabled");
}

#[test]
fn live_state_ends_runs_and_unknown_states_fail_closed() {
    let v = Case::estimate().status(Status::Sold).verdict();
    assert!(matches!(&v, Verdict::Halt { reason: HaltReason::State(_), goal: Some(g) } if g.label == "sold"));
    assert_eq!(
        halted(&Case::estimate().status(Status::Inactive).verdict()),
        "estimate.inactive"
    );
    assert_eq!(
        halted(&Case::estimate().status(Status::Unknown).verdict()),
        "estimate.inactive"
    );
    let mut sibling = Case::estimate();
    sibling.facts.as_mut().unwrap().option_sold = true;
    assert_eq!(
        halted(&sibling.verdict()),
        "estimate.option_sold",
        "Good/Better/Best: one sold ends the others"
    );
    // Unless the tenant's filter says the job's estimates are separate offers.
    sibling.recipe = sibling
        .recipe
        .with_override(&serde_json::json!({"filters": {"independentOptions": true}}))
        .unwrap();
    sent(&sibling.verdict());
    let mut gone = Case::estimate();
    gone.gone = true;
    assert_eq!(halted(&gone.verdict()), "entity_gone");
    let visit = Case::recipe("appointment_reminder", "2026-12-02T18:00:00Z").status(Status::Unknown);
    assert_eq!(halted(&visit.verdict()), "state_unknown");
}

#[test]
fn dunning_stops_at_a_zero_balance_and_at_its_maximum_age() {
    let mut c = Case::recipe("invoice_dunning", "2026-12-02T18:00:00Z");
    c.facts.as_mut().unwrap().balance_cents = Some(25_000);
    c.facts.as_mut().unwrap().due_date = Some(t("2026-11-20T00:00:00Z"));
    sent(&c.verdict());
    for zero in [Status::Paid, Status::Unbilled] {
        let mut settled = Case::recipe("invoice_dunning", "2026-12-02T18:00:00Z").status(zero);
        settled.facts.as_mut().unwrap().balance_cents = Some(0);
        assert!(matches!(
            halted(&settled.verdict()).as_str(),
            "invoice.paid" | "invoice.settled"
        ));
    }
    // Written off to zero while ServiceTitan still says unpaid somewhere: the balance decides.
    c.facts.as_mut().unwrap().balance_cents = Some(0);
    assert_eq!(halted(&c.verdict()), "invoice.settled");
    c.facts.as_mut().unwrap().balance_cents = Some(25_000);
    c.facts.as_mut().unwrap().due_date = Some(t("2026-09-01T00:00:00Z"));
    assert_eq!(halted(&c.verdict()), "invoice.too_old", "more than 60 days past due");
}

#[test]
fn the_review_waits_for_an_invoice_that_exists_and_is_paid() {
    let base = || Case::recipe("job_complete_review", "2026-12-02T18:00:00Z");
    let invoice = |s: Status| Some(Facts::new(EntityKind::Invoice, "9", t("2026-12-01T00:00:00Z"), s));
    for waiting in [
        None,
        invoice(Status::Unbilled),
        invoice(Status::Unpaid),
        invoice(Status::Unknown),
    ] {
        let mut c = base();
        c.facts = waiting.clone();
        assert_eq!(
            deferred(&c.verdict()),
            (t("2026-12-03T18:00:00Z"), "held"),
            "{waiting:?}"
        );
        c.held_since = Some(t("2026-11-18T18:00:00Z"));
        assert_eq!(skipped(&c.verdict()), "held_too_long");
    }
    let mut paid = base();
    paid.facts = invoice(Status::Paid);
    sent(&paid.verdict());
}

#[test]
fn recipients_channels_and_the_ledger() {
    let mut c = Case::estimate();
    c.recipient = Err(NoRecipient::DoNotText);
    assert_eq!(skipped(&c.verdict()), "servicetitan_do_not_text");
    let mut c = Case::estimate();
    c.channels = &[Channel::Email];
    assert_eq!(skipped(&c.verdict()), "channel_disabled");
    let mut c = Case::estimate();
    c.opt_outs.channel = true;
    assert_eq!(skipped(&c.verdict()), "opted_out");
    c.opt_outs.all = true;
    assert_eq!(halted(&c.verdict()), "opted_out");
}

#[test]
fn no_ai_call_without_consent() {
    let mut call = Case::estimate();
    call.step = 1;
    assert_eq!(skipped(&call.verdict()), "no_call_consent");
    call.consent = Some(Recorded {
        written: false,
        source: "lead".into(),
        at: t("2026-11-30T00:00:00Z"),
    });
    assert_eq!(
        skipped(&call.verdict()),
        "no_call_consent",
        "a sales call needs written consent"
    );
    call.consent.as_mut().unwrap().written = true;
    assert_eq!(sent(&call.verdict()).consent.basis, "recorded");
    call.consent = None;
    call.ai_call_consent = AiCallConsent::Attested {
        attested_by: "Dana Ortiz".into(),
        attested_at: Some(t("2026-11-01T00:00:00Z")),
    };
    assert_eq!(sent(&call.verdict()).consent.basis, "attested");
    // A service call (the no-show's) needs express consent only.
    let mut service = Case::recipe("no_show_recovery", "2026-12-02T18:00:00Z");
    service.step = 1;
    assert_eq!(skipped(&service.verdict()), "no_call_consent");
    service.consent = Some(Recorded {
        written: false,
        source: "inbound".into(),
        at: t("2026-11-30T00:00:00Z"),
    });
    sent(&service.verdict());
}

#[test]
fn a_value_the_settings_must_give_skips_the_step_when_missing() {
    let mut c = Case::recipe("missed_call_text_back", "2026-12-02T18:00:00Z");
    assert_eq!(skipped(&c.verdict()), "missing_bookingUrl");
    c.vars.insert("bookingUrl", "https://book.example.com".into());
    let v = c.verdict();
    assert!(sent(&v).text.contains("https://book.example.com") && sent(&v).booking_link);
    assert!(!sent(&Case::estimate().verdict()).booking_link);
    assert_eq!(
        sink(Some("https://tenant.example"), Some("https://deploy.example")),
        Some("https://tenant.example")
    );
    assert_eq!(
        sink(None, Some("https://deploy.example")),
        Some("https://deploy.example")
    );
    assert_eq!(sink(None, None), None);
}

#[test]
fn quiet_hours_and_the_states_rules_for_sales_messages() {
    // 20:30 in Miami, a Wednesday.
    let mut fl = Case::estimate();
    fl.now = t("2026-12-03T01:30:00Z");
    fl.zones = vec!["America/New_York"];
    fl.state = Some("FL");
    let (until, reason) = deferred(&fl.verdict());
    assert_eq!((until, reason), (t("2026-12-03T13:00:00Z"), "state_rule"));
    let Verdict::Defer { reason, .. } = fl.verdict() else {
        unreachable!()
    };
    assert_eq!(reason.detail()["statute"], rule_for("FL").unwrap().statute);
    // The same moment is fine for a transactional text (dunning), which the state rule does not cover.
    let mut dunning = Case::recipe("invoice_dunning", "2026-12-03T01:30:00Z");
    dunning.zones = vec!["America/New_York"];
    dunning.state = Some("FL");
    dunning.facts.as_mut().unwrap().balance_cents = Some(10_000);
    sent(&dunning.verdict());
    // 22:00 anywhere: the federal window, whatever the class.
    dunning.now = t("2026-12-03T03:00:00Z");
    assert_eq!(deferred(&dunning.verdict()), (t("2026-12-03T13:00:00Z"), "quiet_hours"));
    // A Mississippi Sunday: no sales message all day.
    let mut ms = Case::estimate();
    ms.now = t("2026-12-06T18:00:00Z");
    ms.state = Some("MS");
    assert_eq!(deferred(&ms.verdict()), (t("2026-12-07T14:00:00Z"), "state_rule"));
}

#[test]
fn a_split_zone_recipient_gets_only_the_window_both_zones_allow() {
    // 07:30 in Chicago is 08:30 in New York: still too early in one of the two.
    let mut c = Case::recipe("invoice_dunning", "2026-12-02T13:30:00Z");
    c.facts.as_mut().unwrap().balance_cents = Some(10_000);
    c.zones = vec!["America/New_York", "America/Chicago"];
    c.state = Some("TN");
    assert_eq!(deferred(&c.verdict()), (t("2026-12-02T14:00:00Z"), "quiet_hours"));
    // 20:30 in Chicago is 21:30 in New York: closed again.
    c.now = t("2026-12-03T02:30:00Z");
    assert_eq!(
        deferred(&c.verdict()),
        (t("2026-12-03T13:00:00Z").max(t("2026-12-03T14:00:00Z")), "quiet_hours")
    );
    c.now = t("2026-12-02T20:00:00Z");
    sent(&c.verdict());
}

#[test]
fn caps_count_by_class_and_states_cap_sales_messages_on_one_subject() {
    let now = "2026-12-02T18:00:00Z";
    let earlier = |h: i64| Sent {
        at: t(now) - SignedDuration::from_hours(h),
        subject: Some("estimate:1".into()),
    };
    let mut c = Case::estimate();
    c.recent = vec![earlier(2), earlier(4)];
    assert_eq!(deferred(&c.verdict()), (t("2026-12-03T14:00:00Z"), "cap"));
    // Florida: at most 3 a day on one subject, even for a tenant whose cap allows more.
    let limits = Limits {
        class: Cap {
            messages: 10,
            per: SignedDuration::from_hours(24),
        },
        state: Some((rule_for("FL").unwrap().cap.unwrap(), "estimate:1")),
    };
    let three = vec![earlier(1), earlier(2), earlier(3)];
    assert_eq!(
        limits.opening(&three, t(now)),
        Some((t(now) + SignedDuration::from_hours(21), DeferReason::StateCap))
    );
    let other_subject: Vec<Sent> = three
        .iter()
        .map(|s| Sent {
            subject: Some("estimate:2".into()),
            ..s.clone()
        })
        .collect();
    assert_eq!(limits.opening(&other_subject, t(now)), None);
    // Keys per class: a transactional send never fills the sales cap.
    assert_ne!(
        cap_key(Some(7), None, MessageClass::Transactional),
        cap_key(Some(7), None, MessageClass::Solicitation)
    );
    assert_eq!(
        cap_key(None, Some("+15125550100"), MessageClass::Marketing),
        "+15125550100#marketing"
    );
}

#[test]
fn the_closed_notice_goes_only_by_sms_in_answer_to_the_persons_own_call() {
    let night = t("2026-12-03T05:00:00Z"); // 23:00 in Chicago
    let mut c = Case::recipe("missed_call_text_back", "2026-12-03T05:00:00Z");
    c.vars.insert("bookingUrl", "https://book.example.com".into());
    c.after_hours_notice = true;
    c.anchor = night - SignedDuration::from_mins(2);
    let v = c.verdict();
    let plan = sent(&v);
    assert!(plan.after_hours && plan.text.contains("closed"), "{}", plan.text);
    // Half an hour after the call it no longer answers it: the morning text instead.
    c.anchor = night - SignedDuration::from_mins(30);
    assert_eq!(deferred(&c.verdict()).1, "quiet_hours");
    // A tenant who did not choose it: the morning text.
    c.anchor = night - SignedDuration::from_mins(2);
    c.after_hours_notice = false;
    assert_eq!(deferred(&c.verdict()).1, "quiet_hours");
}

/// A template within its 4,000 characters that renders longer (its values, the opt-out notice) is not sent cut
/// short, nor sent at all: the step is skipped with the reason.
#[test]
fn a_message_that_renders_longer_than_a_follow_up_may_be_is_skipped() {
    let template = |c: &mut Case, text: &str| {
        let allowed = crate::render::variables(c.recipe.subject);
        c.recipe.steps[0].template = crate::render::Template::parse(text, &allowed).unwrap();
    };
    let mut c = Case::estimate();
    // 3,999 characters as written; the company's name makes it longer.
    let text = format!("{}{{{{company.name}}}}", "a".repeat(3999 - "{{company.name}}".len()));
    template(&mut c, &text);
    assert_eq!(skipped(&c.verdict()), "message_too_long");
    // Exactly at the limit once rendered: sent.
    template(&mut c, &"b".repeat(MAX_MESSAGE_CHARS));
    assert_eq!(sent(&c.verdict()).text.chars().count(), MAX_MESSAGE_CHARS);
    // The first text's opt-out notice counts too.
    c.first_text = true;
    assert_eq!(skipped(&c.verdict()), "message_too_long");
}

#[test]
fn the_first_text_to_a_number_says_how_to_opt_out() {
    let mut c = Case::estimate();
    c.first_text = true;
    let v = c.verdict();
    let plan = sent(&v);
    assert!(
        plan.opt_out_notice && plan.text.ends_with(OPT_OUT_NOTICE),
        "{}",
        plan.text
    );
    // Not twice, when the template says it already.
    let mut review = Case::recipe("job_complete_review", "2026-12-02T18:00:00Z");
    review.facts = Some(Facts::new(
        EntityKind::Invoice,
        "9",
        t("2026-12-01T00:00:00Z"),
        Status::Paid,
    ));
    review.first_text = true;
    let v = review.verdict();
    assert!(!sent(&v).opt_out_notice);
    // Not on a call.
    let mut call = Case::estimate();
    call.step = 1;
    call.first_text = true;
    call.ai_call_consent = AiCallConsent::Attested {
        attested_by: "Dana".into(),
        attested_at: None,
    };
    assert!(!sent(&call.verdict()).opt_out_notice);
}

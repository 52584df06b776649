//! The follow-up engine's CPU cost, measured side by side in one run on the same machine:
//!
//! 1. parsing a ServiceTitan estimate response (about 3.6 KB of JSON, six line items), which the event processor does for every event
//!    anyway: the yardstick;
//! 2. one event's decision: merging the live facts into the snapshot and deciding over all eight recipes;
//! 3. a tenant's recipes with an override applied (done once per event, when the tenant is read);
//! 4. one check before send (live state, opt-outs, consent, the message, quiet hours and the state's rule in the
//!    recipient's candidate zones, the caps);
//! 5. the next step's plan after a send;
//! 6. a recipient's zones from an address in a ZIP area that straddles a zone line, and from an area code;
//! 7. reading a reply (normalising, the person-written part, keywords and phrases).
//!
//! Prints medians and their ratio to the yardstick. Run with `cargo bench -p followups` (or `make bench`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use domain::event::{EntityKind, EventName};
use domain::tenant_settings::{AiCallConsent, Channel};
use followups::decide::{ActiveRun, EventInput, Slot, Subject, decide};
use followups::facts::{Facts, Status, merge};
use followups::gate::{self, Cap, OptOuts, SendInput, Sent, TenantRules};
use followups::recipe::{Catalogue, MessageClass};
use followups::timing::{self, Position};
use followups::window::Policy;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

const ROUNDS: usize = 301;
const ITERS: usize = 200;

fn median_ns(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// An estimate as ServiceTitan's sales API returns it, with a few line items.
fn estimate_json() -> String {
    let items: Vec<_> = (0..6)
        .map(|i| {
            serde_json::json!({
                "id": 5000 + i, "sku": {"id": 300 + i, "name": "AC-CONDENSER-2T", "displayName": "2-ton condenser",
                "type": "Equipment", "soldHours": 0.0, "generalLedgerAccountId": 12, "generalLedgerAccountName": "Sales",
                "modifiedOn": "2026-11-28T10:00:00Z"},
                "skuAccount": "Sales", "description": "2-ton condenser, 14 SEER, install and haul-away",
                "membershipTypeId": null, "qty": 1.0, "unitRate": 3120.5, "total": 3120.5, "unitCost": 1800.0,
                "totalCost": 1800.0, "itemGroupName": null, "itemGroupRootId": null,
                "createdOn": "2026-11-28T10:00:00Z", "modifiedOn": "2026-11-28T10:00:00Z", "chargeable": true
            })
        })
        .collect();
    serde_json::json!({
        "id": 90211, "jobId": 4411, "projectId": null, "locationId": 220, "customerId": 110, "name": "Options",
        "jobNumber": "4411", "status": {"value": 0, "name": "Open"}, "reviewStatus": "None", "summary": "Options",
        "createdOn": "2026-11-28T10:00:00Z", "modifiedOn": "2026-11-28T10:00:00Z", "soldOn": null, "soldBy": null,
        "active": true, "items": items, "externalLinks": [], "subtotal": 18723.0, "tax": 0.0, "businessUnitId": 7,
        "businessUnitName": "HVAC Sales"
    })
    .to_string()
}

fn time<T>(mut f: impl FnMut() -> T) -> f64 {
    let start = Instant::now();
    for _ in 0..ITERS {
        black_box(f());
    }
    start.elapsed().as_nanos() as f64 / ITERS as f64
}

fn main() {
    let catalogue = Catalogue::load().expect("the shipped recipes load");
    let all: Vec<String> = catalogue.all().iter().map(|r| r.id.clone()).collect();
    let recipes = catalogue.for_tenant(&all, &BTreeMap::new()).enabled;
    let mut overrides = BTreeMap::new();
    overrides.insert(
        "estimate_follow_up".to_owned(),
        serde_json::json!({"steps": [{"id": "sms_24h", "delay": "PT2H"}]}),
    );
    let tz = TimeZone::get("America/Chicago").expect("time zone database");
    let now: Timestamp = "2026-12-01T16:00:00Z".parse().unwrap();
    let body = estimate_json();
    let subject = Subject::new(EntityKind::Estimate, "90211");
    let mut snapshot = Facts::new(
        EntityKind::Estimate,
        "90211",
        now - SignedDuration::from_hours(1),
        Status::Open,
    );
    snapshot.amount_cents = Some(1_872_300);
    let mut live = snapshot.clone();
    live.modified_on = now;
    // The estimate already has its follow-up running: the realistic case for the events after the first.
    let slots = vec![Slot {
        recipe: "estimate_follow_up".into(),
        generation: 1,
        active: Some(ActiveRun {
            run_id: "estimate_follow_up-x".into(),
            anchor: now - SignedDuration::from_hours(1),
        }),
        last_anchor: Some(now - SignedDuration::from_hours(1)),
    }];
    let estimate = catalogue.get("estimate_follow_up").unwrap();
    // A recipient on a zone line, in a state with a sales rule: the most work a check does.
    let policy = Policy {
        zones: vec![tz.clone(), TimeZone::get("America/New_York").unwrap()],
        state: Some("FL".into()),
        class: MessageClass::Solicitation,
        tenant_quiet: Some((Time::constant(21, 0, 0, 0), Time::constant(8, 0, 0, 0))),
        recipe_window: None,
    };
    let recent = vec![
        Sent {
            at: now - SignedDuration::from_hours(30),
            subject: Some("estimate:90211".into()),
        },
        Sent {
            at: now - SignedDuration::from_hours(3),
            subject: Some("estimate:1".into()),
        },
    ];
    let channels = [Channel::Sms, Channel::Email, Channel::Voice];
    let vars: BTreeMap<&str, String> = [
        ("company.name", "Lone Star Home Services".to_owned()),
        ("customer.firstName", "Dana".to_owned()),
        ("estimate.name", "AC replacement".to_owned()),
        ("estimate.amount", "18,723.00".to_owned()),
    ]
    .into();
    let consent = AiCallConsent::Recorded;
    let reply = "Thanks, can you stop by Tuesday after 3? \n\nSent from my iPhone";

    let (mut parse, mut decision, mut tenant, mut check, mut plan) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut zone, mut area_code, mut reading) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        parse.push(time(|| serde_json::from_str::<serde_json::Value>(&body).unwrap()));
        decision.push(time(|| {
            let (facts, _) = merge(Some(snapshot.clone()), live.clone());
            decide(&EventInput {
                now,
                event: EventName::EstimateViewed,
                occurred_at: now,
                subject: &subject,
                facts: &facts,
                recipes: &recipes,
                slots: &slots,
                time_zone: &tz,
                found_in_lookback: None,
                include_existing_overdue: false,
                watched_since: &BTreeMap::new(),
            })
        }));
        tenant.push(time(|| catalogue.for_tenant(&all, &overrides)));
        check.push(time(|| {
            gate::check(&SendInput {
                now,
                recipe: estimate,
                position: Position::START,
                deadline: timing::deadline(estimate, Position::START, now, &tz),
                held_since: None,
                anchor: now,
                subject: "estimate:90211",
                tenant: TenantRules {
                    connected: true,
                    recipe_enabled: true,
                    channels: &channels,
                    cap: Cap::default(),
                    after_hours_notice: false,
                    ai_call_consent: &consent,
                },
                live: gate::Live::Facts(Some(&live)),
                recipient: Ok("+15125550100"),
                vars: &vars,
                opt_outs: OptOuts::default(),
                consent: None,
                recent_sends: &recent,
                window: &policy,
                first_text: false,
            })
        }));
        plan.push(time(|| timing::plan_after(estimate, Position::START, now, &tz, now)));
        zone.push(time(|| followups::geo::for_address("TN", "37350", "US")));
        area_code.push(time(|| followups::geo::for_phone("+19155550100")));
        reading.push(time(|| followups::optout::read(Channel::Sms, reply, false)));
    }
    let yardstick = median_ns(parse);
    println!("follow-up engine CPU, median of {ROUNDS} rounds × {ITERS} (one core, host build):");
    let line = |name: &str, ns: f64| {
        println!(
            "  {name:<56} {:>9.3} µs   1/{:<5.0} of the parse",
            ns / 1e3,
            yardstick / ns
        );
    };
    println!(
        "  {:<56} {:>9.3} µs",
        format!("parse a {} B ServiceTitan estimate (yardstick)", body.len()),
        yardstick / 1e3
    );
    line("decide one event over 8 recipes (merge + decide)", median_ns(decision));
    line("a tenant's 8 recipes, one override applied", median_ns(tenant));
    line(
        "check before send (2 zones, FL sales rule, caps, render)",
        median_ns(check),
    );
    line("plan the next step", median_ns(plan));
    line("a split-ZIP address's zones (ZIP5 lookup)", median_ns(zone));
    line("an area code's zones", median_ns(area_code));
    line("read a reply (normalise, quote, keywords, phrases)", median_ns(reading));
}

//! The follow-up engine's CPU cost, measured side by side in one run on the same machine:
//!
//! 1. parsing a ServiceTitan estimate response (about 3.6 KB of JSON, six line items), which the event processor does for every event
//!    anyway: the yardstick;
//! 2. one event's decision: merging the live facts into the snapshot and deciding over all eight recipes;
//! 3. a tenant's recipes with an override applied (done once per event, when the tenant is read);
//! 4. one check before send (live state, opt-outs, quiet hours in the recipient's zone, the cap);
//! 5. the next step's plan after a send.
//!
//! Prints medians and their ratio to the yardstick. Run with `cargo bench -p followups` (or `make bench`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use followups::decide::{ActiveRun, EventInput, Slot, Subject, decide};
use followups::facts::{Facts, Status, merge};
use followups::gate::{self, Cap, OptOuts, SendInput};
use followups::recipe::{Catalogue, MessageClass};
use followups::timing::{self, Position};
use followups::window::Policy;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use shared::event::{EntityKind, EventName};
use shared::tenant_settings::Channel;

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
    let policy = Policy {
        time_zone: tz.clone(),
        state: Some("TX".into()),
        class: MessageClass::Transactional,
        tenant_quiet: Some((Time::constant(21, 0, 0, 0), Time::constant(8, 0, 0, 0))),
        recipe_window: None,
    };
    let recent = vec![
        now - SignedDuration::from_hours(30),
        now - SignedDuration::from_hours(3),
    ];
    let channels = [Channel::Sms, Channel::Email, Channel::Voice];

    let (mut parse, mut decision, mut tenant, mut check, mut plan) = (vec![], vec![], vec![], vec![], vec![]);
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
            })
        }));
        tenant.push(time(|| catalogue.for_tenant(&all, &overrides)));
        check.push(time(|| {
            gate::check(&SendInput {
                anchor: now,
                after_hours_notice: false,
                now,
                recipe: estimate,
                position: Position::START,
                deadline: timing::deadline(estimate, Position::START, now, &tz),
                held_since: None,
                tenant_connected: true,
                recipe_enabled: true,
                tenant_channels: &channels,
                facts: Some(&live),
                recipient: Ok("+15125550100"),
                message: Ok("Hi Dana, it's Lone Star Home Services about the estimate we sent."),
                opt_outs: OptOuts::default(),
                recent_sends: &recent,
                cap: Cap::default(),
                window: &policy,
            })
        }));
        plan.push(time(|| timing::plan_after(estimate, Position::START, now, &tz, now)));
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
        "check before send (state, opt-outs, quiet hours, cap)",
        median_ns(check),
    );
    line("plan the next step", median_ns(plan));
}

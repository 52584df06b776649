//! Tenant creation and the deterministic demo tenant (a residential HVAC / plumbing / electrical shop in the
//! Austin, TX metro). The demo uses a fixed-seed xorshift and times anchored to the start of the current UTC day,
//! so the same records come out of every run on a given day.

use jiff::{SignedDuration, Timestamp};

use crate::api::accounting::apply_payment;
use crate::api::crm::{CreateCustomerReq, NewContactReq, NewLocationReq, insert_customer};
use crate::api::jpm::{NewAppointment, NewJob, complete_job, insert_job};
use crate::api::sales::{CreateEstimateReq, EstimateItemReq, insert_estimate};
use crate::model::{Address, BusinessUnit, Call, Campaign, JobType, Technician, Tenant, World};
use crate::util::{XorShift, day_start};
use crate::{DEMO_APP_KEY, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID, TenantCredentials};

const DEMO_SEED: u64 = 0x5EED_0000_1001;
const DEMO_CUSTOMERS: usize = 300;

struct BuDef {
    name: &'static str,
    trade: &'static str,
    email: &'static str,
}

const BUSINESS_UNITS: [BuDef; 4] = [
    BuDef {
        name: "HVAC - Service",
        trade: "HVAC",
        email: "service@lonestarhome.example.com",
    },
    BuDef {
        name: "HVAC - Install",
        trade: "HVAC",
        email: "installs@lonestarhome.example.com",
    },
    BuDef {
        name: "Plumbing - Service",
        trade: "Plumbing",
        email: "plumbing@lonestarhome.example.com",
    },
    BuDef {
        name: "Electrical - Service",
        trade: "Electrical",
        email: "electrical@lonestarhome.example.com",
    },
];

/// (business unit, name, priority, minutes, class, typical price in cents)
const JOB_TYPES: [(&str, &str, &str, i64, &str, i64); 16] = [
    ("HVAC - Service", "AC Repair", "Normal", 120, "Service", 38_900),
    ("HVAC - Service", "AC Tune-Up", "Low", 90, "Maintenance", 12_900),
    ("HVAC - Service", "Furnace Tune-Up", "Low", 90, "Maintenance", 12_900),
    ("HVAC - Service", "No Heat Diagnostic", "High", 60, "Service", 8_900),
    ("HVAC - Service", "Heat Pump Repair", "Normal", 120, "Service", 42_500),
    ("HVAC - Install", "AC Replacement Estimate", "Normal", 90, "Sales", 0),
    ("HVAC - Install", "Furnace Install", "Normal", 480, "Install", 685_000),
    (
        "HVAC - Install",
        "Ductless Mini-Split Install",
        "Normal",
        480,
        "Install",
        545_000,
    ),
    ("Plumbing - Service", "Drain Cleaning", "Normal", 90, "Service", 18_900),
    (
        "Plumbing - Service",
        "Water Heater Install",
        "Normal",
        240,
        "Install",
        184_900,
    ),
    (
        "Plumbing - Service",
        "Water Heater Repair",
        "High",
        120,
        "Service",
        32_500,
    ),
    ("Plumbing - Service", "Leak Repair", "Urgent", 90, "Service", 27_500),
    (
        "Electrical - Service",
        "Panel Upgrade",
        "Normal",
        480,
        "Install",
        245_000,
    ),
    (
        "Electrical - Service",
        "Outlet/Switch Repair",
        "Low",
        60,
        "Service",
        16_500,
    ),
    (
        "Electrical - Service",
        "EV Charger Install",
        "Normal",
        240,
        "Install",
        125_000,
    ),
    (
        "Electrical - Service",
        "Ceiling Fan Install",
        "Low",
        90,
        "Service",
        22_500,
    ),
];

/// (name, category, source, medium, tracking phone)
const CAMPAIGNS: [(&str, &str, &str, &str, Option<&str>); 5] = [
    ("Google Ads", "Paid Search", "Google", "CPC", Some("5125550100")),
    ("Website Chat", "Website", "Website", "Chat", None),
    ("AI Voice Agent", "Phone", "AI Voice Agent", "Phone", Some("5125550111")),
    ("Referral", "Referral", "Customer Referral", "Word of Mouth", None),
    ("Yard Sign", "Offline", "Yard Sign", "Print", Some("5125550122")),
];

/// (name, business unit, position)
const TECHNICIANS: [(&str, &str, &str); 3] = [
    ("Mike Alvarez", "HVAC - Service", "Service"),
    ("Jasmine Carter", "Plumbing - Service", "Service"),
    ("Darnell Brooks", "Electrical - Service", "Service"),
];

const FIRST_NAMES: [&str; 48] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Carol",
    "Carlos",
    "Maria",
    "Luis",
    "Ana",
    "Jose",
    "Priya",
    "Wei",
    "Aisha",
];

const LAST_NAMES: [&str; 48] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Patel",
];

const STREETS: [&str; 24] = [
    "Oak Hollow Dr",
    "Bluebonnet Ln",
    "Mesquite Trl",
    "Cedar Elm Way",
    "Live Oak St",
    "Barton Springs Rd",
    "Pecan Grove Dr",
    "Lakeline Blvd",
    "Whispering Wind Dr",
    "Red Bud Trl",
    "Shoal Creek Blvd",
    "Hidden Valley Rd",
    "Mockingbird Ln",
    "Sunset Ridge Dr",
    "Brushy Creek Rd",
    "Limestone Ct",
    "Wildflower Way",
    "Canyon View Dr",
    "Settlers Park Loop",
    "Agave Ln",
    "Prairie Dune Way",
    "Longhorn Pkwy",
    "Cypress Point Dr",
    "Saddle Ridge Trl",
];

/// (city, zip codes, latitude, longitude)
const CITIES: [(&str, &[&str], f64, f64); 7] = [
    (
        "Austin",
        &["78704", "78745", "78748", "78750", "78757", "78731"],
        30.2672,
        -97.7431,
    ),
    ("Round Rock", &["78664", "78681"], 30.5083, -97.6789),
    ("Cedar Park", &["78613"], 30.5052, -97.8203),
    ("Pflugerville", &["78660"], 30.4394, -97.6200),
    ("Georgetown", &["78626", "78628"], 30.6333, -97.6770),
    ("Leander", &["78641"], 30.5788, -97.8531),
    ("Kyle", &["78640"], 29.9891, -97.8772),
];

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn minutes(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn days(d: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * d)
}

fn register(w: &mut World, t: Tenant) -> TenantCredentials {
    let creds = t.creds.clone();
    w.clients.insert(creds.client_id.clone(), t.id);
    w.tenants.insert(t.id, t);
    creds
}

/// Business units, job types, campaigns and technicians. `full` adds the HVAC install unit.
fn seed_catalog(t: &mut Tenant, full: bool, created: Timestamp) {
    let hq = Address {
        street: "4100 Industrial Oaks Blvd".into(),
        unit: Some("Suite 200".into()),
        city: "Austin".into(),
        state: "TX".into(),
        zip: "78735".into(),
        country: "USA".into(),
        latitude: Some(30.2469),
        longitude: Some(-97.8650),
    };
    let mut trade_ids: Vec<(&str, i64)> = Vec::new();
    for def in BUSINESS_UNITS.iter().filter(|d| full || d.name != "HVAC - Install") {
        let trade_id = match trade_ids.iter().find(|(n, _)| *n == def.trade) {
            Some((_, id)) => *id,
            None => {
                let id = t.next_id();
                trade_ids.push((def.trade, id));
                id
            }
        };
        let id = t.next_id();
        t.business_units.insert(
            id,
            BusinessUnit {
                id,
                name: def.name.into(),
                official_name: format!("{} {}", t.name, def.trade),
                trade: (trade_id, def.trade.into()),
                email: def.email.into(),
                phone: "5125550199".into(),
                address: hq.clone(),
                active: true,
                created_on: created,
                modified_on: created,
            },
        );
    }
    let bu_id = |t: &Tenant, name: &str| t.business_units.values().find(|b| b.name == name).map(|b| b.id);
    for (bu, name, priority, mins, class, price) in JOB_TYPES {
        let Some(b) = bu_id(t, bu) else { continue };
        let id = t.next_id();
        t.job_types.insert(
            id,
            JobType {
                id,
                name: name.into(),
                business_unit_ids: vec![b],
                priority: priority.into(),
                duration: mins * 60,
                class: class.into(),
                summary: format!("{name} — standard residential visit."),
                typical_price: price,
                active: true,
                created_on: created,
                modified_on: created,
            },
        );
    }
    for (name, category, source, medium, phone) in CAMPAIGNS {
        let category_id = t.next_id();
        let id = t.next_id();
        t.campaigns.insert(
            id,
            Campaign {
                id,
                name: name.into(),
                category: (category_id, category.into()),
                source: Some(source.into()),
                medium: Some(medium.into()),
                phone_numbers: phone.map(|p| vec![p.to_string()]).unwrap_or_default(),
                is_default: false,
                active: true,
                created_on: created,
                modified_on: created,
            },
        );
    }
    for (name, bu, position) in TECHNICIANS {
        let user_id = t.next_id();
        let id = t.next_id();
        let login = name.to_lowercase().replace(' ', ".");
        t.technicians.insert(
            id,
            Technician {
                id,
                user_id,
                name: name.into(),
                business_unit_id: bu_id(t, bu),
                email: format!("{login}@lonestarhome.example.com"),
                phone: format!("512555{:04}", 150 + (id % 40)),
                login_name: login,
                positions: vec![position.into()],
                active: true,
                created_on: created,
                modified_on: created,
            },
        );
    }
}

/// A runtime tenant: fresh credentials, 3 business units, their job types, 5 campaigns, 3 technicians.
pub fn create_basic_tenant(w: &mut World, name: &str, now: Timestamp) -> TenantCredentials {
    let id = w.next_tenant_id;
    w.next_tenant_id += 1;
    let creds = TenantCredentials {
        tenant_id: id,
        client_id: format!("cid.{}", w.rng.hex(10)),
        client_secret: format!("cs1.{}", w.rng.token(36)),
        app_key: format!("ak1.{}", w.rng.hex(12)),
    };
    let name = if name.trim().is_empty() {
        format!("Sandbox Tenant {id}")
    } else {
        name.trim().to_string()
    };
    let mut t = Tenant::new(id, &name, creds, now);
    seed_catalog(&mut t, false, now);
    register(w, t)
}

/// The demo tenant 1001 with fixed credentials and a realistic book of business.
pub fn seed_demo(w: &mut World, now: Timestamp) -> TenantCredentials {
    let creds = TenantCredentials {
        tenant_id: DEMO_TENANT_ID,
        client_id: DEMO_CLIENT_ID.into(),
        client_secret: DEMO_CLIENT_SECRET.into(),
        app_key: DEMO_APP_KEY.into(),
    };
    let base = day_start(now);
    let start = base - days(900);
    let mut t = Tenant::new(DEMO_TENANT_ID, "Lone Star Home Services", creds, start);
    seed_catalog(&mut t, true, start);
    let mut rng = XorShift::new(DEMO_SEED);
    let mut used_phones = std::collections::HashSet::new();
    let mut phone = |rng: &mut XorShift| loop {
        let area = *rng.pick(&["512", "737"]);
        let n = format!("{area}555{:04}", 200 + rng.below(9_800));
        if used_phones.insert(n.clone()) {
            break n;
        }
    };

    let job_types: Vec<(i64, i64, i64, String, String)> = t
        .job_types
        .values()
        .map(|j| {
            (
                j.id,
                j.business_unit_ids[0],
                j.typical_price,
                j.class.clone(),
                j.name.clone(),
            )
        })
        .collect();
    let campaigns: Vec<i64> = t.campaigns.keys().copied().collect();
    let techs: Vec<(i64, Option<i64>)> = t.technicians.values().map(|x| (x.id, x.business_unit_id)).collect();
    let install_bu = t
        .business_units
        .values()
        .find(|b| b.name == "HVAC - Install")
        .map(|b| b.id);

    for i in 0..DEMO_CUSTOMERS {
        let first = *rng.pick(&FIRST_NAMES);
        let last = *rng.pick(&LAST_NAMES);
        let (city, zips, lat, lon) = *rng.pick(&CITIES);
        let address = Address {
            street: format!("{} {}", 100 + rng.below(19_800), rng.pick(&STREETS)),
            unit: None,
            city: city.into(),
            state: "TX".into(),
            zip: (*rng.pick(zips)).into(),
            country: "USA".into(),
            latitude: Some(round6(lat + (rng.below(2_000) as f64 - 1_000.0) / 20_000.0)),
            longitude: Some(round6(lon + (rng.below(2_000) as f64 - 1_000.0) / 20_000.0)),
        };
        let mut contacts = vec![NewContactReq {
            kind: Some("MobilePhone".into()),
            value: Some(phone(&mut rng)),
            memo: None,
        }];
        if rng.chance(30) {
            contacts.push(NewContactReq {
                kind: Some("Phone".into()),
                value: Some(phone(&mut rng)),
                memo: Some("Home".into()),
            });
        }
        if rng.chance(65) {
            let email = format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase(),
                rng.below(100)
            );
            contacts.push(NewContactReq {
                kind: Some("Email".into()),
                value: Some(email),
                memo: None,
            });
        }
        // Customers arrive over ~2 years, oldest first, so ids grow with createdOn.
        let created =
            base - days(730) + minutes((i as i64) * 720 * 24 * 60 / DEMO_CUSTOMERS as i64 + rng.below(600) as i64);
        let req = CreateCustomerReq {
            name: Some(format!("{first} {last}")),
            kind: Some("Residential".into()),
            address: Some(address.clone()),
            contacts: Some(contacts),
            locations: Some(vec![NewLocationReq {
                name: Some(format!("{first} {last}")),
                address: Some(address),
                ..Default::default()
            }]),
            do_not_mail: Some(rng.chance(5)),
            ..Default::default()
        };
        let (customer_id, locs) = insert_customer(&mut t, req, created);
        let location_id = locs[0];

        // About half the customers have work on file; a few have two jobs.
        let job_count = match rng.below(100) {
            0..=44 => 0,
            45..=89 => 1,
            _ => 2,
        };
        for k in 0..job_count {
            let (job_type_id, bu, price, class, jt_name) = rng.pick(&job_types).clone();
            let campaign_id = *rng.pick(&campaigns);
            let tech = techs
                .iter()
                .find(|(_, b)| *b == Some(bu))
                .or(techs.first())
                .map(|x| x.0);
            // Recent customers get upcoming work; older ones have history.
            let upcoming = i >= DEMO_CUSTOMERS - 25 && k == 0;
            let (booked, appt_start) = if upcoming {
                let booked = base - days(1 + rng.below(5) as i64) + minutes(9 * 60);
                (
                    booked,
                    base + days(1 + rng.below(14) as i64) + minutes(13 * 60 + 60 * rng.below(8) as i64),
                )
            } else {
                let after = created + days(3 + rng.below(40) as i64 + 90 * k as i64);
                let booked = after.min(base - days(3));
                (
                    booked,
                    booked + days(1 + rng.below(4) as i64) + minutes(60 * rng.below(8) as i64),
                )
            };
            let duration = t.job_types[&job_type_id].duration;
            let new_job = NewJob {
                customer_id,
                location_id,
                business_unit_id: bu,
                job_type_id,
                priority: t.job_types[&job_type_id].priority.clone(),
                campaign_id,
                appointments: vec![NewAppointment {
                    start: appt_start,
                    end: appt_start + SignedDuration::from_secs(duration),
                    arrival_window: Some((appt_start, appt_start + minutes(120))),
                    technician_ids: tech.into_iter().collect(),
                }],
                summary: Some(format!("{jt_name} requested by customer.")),
                custom_fields: Vec::new(),
                tag_type_ids: Vec::new(),
                external_data: Vec::new(),
                customer_po: String::new(),
                sold_by_id: None,
                booking_id: None,
                lead_source: None,
                no_charge: false,
            };
            let job_id = insert_job(&mut t, new_job, booked);
            let past = appt_start < base - days(1);
            if past {
                if rng.chance(8) {
                    if let Some(j) = t.jobs.get_mut(&job_id) {
                        j.status = "Canceled".into();
                        j.modified_on = appt_start - minutes(600);
                    }
                    let appts = t.jobs[&job_id].appointment_ids.clone();
                    for a in appts {
                        if let Some(a) = t.appointments.get_mut(&a) {
                            a.status = "Canceled".into();
                            a.modified_on = appt_start - minutes(600);
                        }
                    }
                    continue;
                }
                let done = appt_start + SignedDuration::from_secs(duration);
                let amount = if price == 0 {
                    8_900
                } else {
                    price * (85 + rng.below(30) as i64) / 100
                };
                let _ = complete_job(&mut t, job_id, Some(amount), done);
                let invoice_id = t.jobs[&job_id].invoice_id;
                match rng.below(100) {
                    0..=59 => {
                        let kind = *rng.pick(&["Credit Card", "Check", "Cash", "ACH"]);
                        let _ = apply_payment(&mut t, invoice_id, amount, kind, None, done + minutes(30));
                    }
                    60..=74 => {
                        let _ = apply_payment(
                            &mut t,
                            invoice_id,
                            amount / 2,
                            "Credit Card",
                            Some("Deposit".into()),
                            done,
                        );
                    }
                    _ => {}
                }
            }
            // Estimates: install/sales visits and a share of service calls.
            let is_sales = Some(bu) == install_bu || class == "Sales" || class == "Install";
            if is_sales || rng.chance(20) {
                let options: &[(&str, i64)] = if Some(bu) == install_bu {
                    &[
                        ("Good — 14 SEER2 AC system", 689_000),
                        ("Better — 16 SEER2 AC system", 842_000),
                        ("Best — Variable-speed heat pump", 1_124_000),
                    ]
                } else {
                    &[
                        ("Repair option", price.max(15_000)),
                        ("Replace option", price.max(15_000) * 4),
                    ]
                };
                let chosen = &options[..1 + rng.below(options.len() as u64) as usize];
                let when = if past { appt_start + minutes(90) } else { booked };
                let status = if past {
                    match rng.below(100) {
                        0..=34 => "Sold",
                        35..=49 => "Dismissed",
                        _ => "Open",
                    }
                } else {
                    "Open"
                };
                let req = CreateEstimateReq {
                    name: Some(format!("{jt_name} options")),
                    summary: Some(format!("Options presented for {jt_name}.")),
                    status: Some(status.into()),
                    sold_by: tech,
                    items: Some(
                        chosen
                            .iter()
                            .map(|(desc, amount)| EstimateItemReq {
                                sku_name: Some(desc.split(" — ").next().unwrap_or(desc).to_uppercase()),
                                description: Some((*desc).to_string()),
                                quantity: Some(1.0),
                                unit_price: Some(*amount as f64 / 100.0),
                                unit_cost: Some(*amount as f64 / 250.0),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    job_id: Some(job_id),
                    ..Default::default()
                };
                let _ = insert_estimate(&mut t, req, when);
            }
        }
    }
    seed_calls(&mut t, base);
    t.created_on = start;
    register(w, t)
}

/// Call-center agents who answer the seeded calls.
const AGENTS: [&str; 3] = ["Renee Ortiz", "Marcus Bell", "Tanya Nguyen"];
const DEMO_CALLS: i64 = 60;

/// Three weeks of calls, oldest first: inbound calls from customers' own numbers (answered — booked or not — and
/// abandoned), a share from unknown numbers, and a few outbound callbacks.
fn seed_calls(t: &mut Tenant, base: Timestamp) {
    let mut rng = XorShift::new(DEMO_SEED ^ 0xCA11);
    let agents: Vec<(i64, String)> = AGENTS.iter().map(|n| (t.next_id(), (*n).to_string())).collect();
    let main_line = t
        .business_units
        .values()
        .next()
        .map(|b| b.phone.clone())
        .unwrap_or_else(|| "5125550199".into());
    let tracked: Vec<(i64, String, String)> = t
        .campaigns
        .values()
        .filter_map(|c| c.phone_numbers.first().map(|p| (c.id, c.name.clone(), p.clone())))
        .collect();
    // (customer id, name, phone, location)
    type Caller = (i64, String, String, Option<(i64, String)>);
    let customers: Vec<Caller> = t
        .customers
        .values()
        .filter_map(|c| {
            let phone = c.contacts.iter().find(|x| x.kind != "Email")?.value.clone();
            let loc = t
                .locations
                .values()
                .find(|l| l.customer_id == c.id)
                .map(|l| (l.id, l.name.clone()));
            Some((c.id, c.name.clone(), phone, loc))
        })
        .collect();
    let span = 21 * 24 * 60 / DEMO_CALLS;
    for i in 0..DEMO_CALLS {
        let received = base - days(21) + minutes(i * span + rng.below(span as u64 / 2) as i64);
        let known = rng.below(100) < 80;
        let customer = known.then(|| rng.pick(&customers).clone());
        let outbound = known && rng.chance(10);
        let abandoned = !outbound && rng.chance(25);
        let (campaign, called) = if !outbound && !tracked.is_empty() && rng.chance(60) {
            let (id, name, phone) = rng.pick(&tracked).clone();
            (Some((id, name)), phone)
        } else {
            (None, main_line.clone())
        };
        let other = match &customer {
            Some(c) => c.2.clone(),
            None => format!("737555{:04}", 1000 + rng.below(8_000)),
        };
        let job = customer.as_ref().and_then(|c| {
            t.jobs
                .values()
                .filter(|j| j.customer_id == c.0 && j.created_on <= received)
                .max_by_key(|j| j.created_on)
                .map(|j| (j.id, j.job_number.clone()))
        });
        let (duration, call_type, agent) = if abandoned {
            (3 + rng.below(35) as i64, "Abandoned", None)
        } else {
            let kind = if outbound {
                "NotLead"
            } else if job.is_some() && rng.chance(50) {
                "Booked"
            } else {
                *rng.pick(&["Unbooked", "NotLead", "Excused"])
            };
            (60 + rng.below(840) as i64, kind, Some(rng.pick(&agents).clone()))
        };
        let ended = received + SignedDuration::from_secs(duration);
        let id = t.next_id();
        t.calls.insert(
            id,
            Call {
                id,
                received_on: received,
                duration_seconds: duration,
                from: if outbound { main_line.clone() } else { other.clone() },
                to: if outbound { other } else { called },
                direction: if outbound { "Outbound" } else { "Inbound" }.into(),
                status: "Completed".into(),
                call_type: Some(call_type.into()),
                customer: customer.as_ref().map(|c| (c.0, c.1.clone())),
                location: customer.as_ref().and_then(|c| c.3.clone()),
                campaign,
                job: if call_type == "Booked" { job } else { None },
                agent,
                active: true,
                created_on: ended,
                modified_on: ended,
            },
        );
    }
}

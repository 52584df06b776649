//! Validates every implemented endpoint against ServiceTitan's official OpenAPI 3.1 documents: the 200 response
//! schema (`paths[p][method].responses["200"].content["application/json"].schema`), the request body schema for the
//! bodies sent, and `ApiErrorResponse` for error answers. The specs are read from `SERVICETITAN_OPENAPI_DIR`
//! (default `<repo root>/../shared/servicetitan-openapi`); the test is skipped when they are absent.

mod common;

use std::collections::HashMap;

use common::{Api, start};
use openapi_check::Specs;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

type Ctx = HashMap<&'static str, i64>;

/// One call: spec file, path template (as in the spec), method, query (with `{name}` placeholders from the context),
/// which context id fills `{id}`, the body, the expected status, and ids to remember (name, JSON pointer).
struct Case {
    file: &'static str,
    path: &'static str,
    method: &'static str,
    query: &'static str,
    id: Option<&'static str>,
    body: Option<fn(&Ctx) -> Value>,
    expect: u16,
    save: &'static [(&'static str, &'static str)],
}

const fn case(file: &'static str, method: &'static str, path: &'static str) -> Case {
    Case {
        file,
        path,
        method,
        query: "",
        id: None,
        body: None,
        expect: 200,
        save: &[],
    }
}

impl Case {
    const fn q(mut self, query: &'static str) -> Self {
        self.query = query;
        self
    }
    const fn id(mut self, name: &'static str) -> Self {
        self.id = Some(name);
        self
    }
    const fn body(mut self, f: fn(&Ctx) -> Value) -> Self {
        self.body = Some(f);
        self
    }
    const fn expect(mut self, status: u16) -> Self {
        self.expect = status;
        self
    }
    const fn save(mut self, save: &'static [(&'static str, &'static str)]) -> Self {
        self.save = save;
        self
    }
}

fn address() -> Value {
    json!({ "street": "2100 S Lamar Blvd", "unit": "Apt 4", "city": "Austin", "state": "TX", "zip": "78704", "country": "USA" })
}

fn new_customer(_: &Ctx) -> Value {
    json!({
        "name": "Schema Tester",
        "type": "Residential",
        "address": address(),
        "locations": [{
            "name": "Schema Tester",
            "address": address(),
            "contacts": [{ "type": "Phone", "value": "5125550133", "memo": "Gate" }],
        }],
        "contacts": [{ "type": "MobilePhone", "value": "(512) 555-0132" }, { "type": "Email", "value": "schema@example.com" }],
        "externalData": { "applicationGuid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "externalData": [{ "key": "k", "value": "v" }] },
        "doNotMail": false,
    })
}

fn new_location(c: &Ctx) -> Value {
    json!({ "customerId": c["customer"], "name": "Rental unit", "address": address(),
            "contacts": [{ "type": "MobilePhone", "value": "5125550134" }] })
}

fn new_job(c: &Ctx) -> Value {
    json!({
        "customerId": c["customer"],
        "locationId": c["location"],
        "businessUnitId": c["bu"],
        "jobTypeId": c["jobtype"],
        "priority": "High",
        "campaignId": c["campaign"],
        "appointments": [{
            "start": "2030-06-01T14:00:00Z", "end": "2030-06-01T16:00:00Z",
            "arrivalWindowStart": "2030-06-01T14:00:00Z", "arrivalWindowEnd": "2030-06-01T15:00:00Z",
            "technicianIds": [c["tech"]],
        }],
        "summary": "<p>Water heater leaking</p>",
        "customerPo": "PO-1",
        "externalData": { "applicationGuid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "externalData": [{ "key": "k", "value": "v" }] },
    })
}

fn job_without_campaign(c: &Ctx) -> Value {
    let mut v = new_job(c);
    v.as_object_mut().unwrap().remove("campaignId");
    v
}

fn note(_: &Ctx) -> Value {
    json!({ "text": "Customer prefers text messages", "pinToTop": true })
}

fn new_estimate(c: &Ctx) -> Value {
    json!({
        "jobId": c["job"],
        "name": "Water heater options",
        "summary": "Tank vs tankless",
        "status": "Open",
        "items": [
            { "skuName": "WH-50G", "description": "50 gal gas water heater", "quantity": 1, "unitPrice": 1849.0, "unitCost": 700.0 },
            { "skuName": "WH-TANKLESS", "description": "Tankless upgrade", "quantity": 1, "unitPrice": 3950.0, "unitCost": 1600.0 }
        ],
    })
}

fn reschedule(_: &Ctx) -> Value {
    json!({ "start": "2030-06-03T14:00:00Z", "end": "2030-06-03T16:00:00Z",
            "arrivalWindowStart": "2030-06-03T14:00:00Z", "arrivalWindowEnd": "2030-06-03T15:00:00Z" })
}

fn add_appointment(c: &Ctx) -> Value {
    json!({ "jobId": c["job"], "start": "2030-06-10T14:00:00Z", "end": "2030-06-10T16:00:00Z",
            "arrivalWindowStart": "2030-06-10T14:00:00Z", "arrivalWindowEnd": "2030-06-10T16:00:00Z",
            "technicianIds": [c["tech"]], "specialInstructions": "Gate code 4321" })
}

fn sell(c: &Ctx) -> Value {
    json!({ "soldBy": c["tech"] })
}

fn contact(_: &Ctx) -> Value {
    json!({ "type": "Email", "value": "second@example.com", "memo": "Billing" })
}

fn booking(c: &Ctx) -> Value {
    json!({
        "source": "AI Chat",
        "name": "Booking Tester",
        "address": { "street": "2100 S Lamar Blvd", "unit": null, "city": "Austin", "state": "TX", "zip": "78704", "country": "USA" },
        "contacts": [{ "type": "MobilePhone", "value": "5125550135", "memo": null }],
        "customerType": "Residential",
        "start": "2030-06-02T15:00:00Z",
        "summary": "No cooling upstairs",
        "campaignId": c["campaign"],
        "businessUnitId": c["bu"],
        "jobTypeId": c["jobtype"],
        "priority": "High",
        "isFirstTimeClient": true,
        "isSendConfirmationEmail": false,
        "externalId": "chat-42",
    })
}

fn booking_without_external_id(c: &Ctx) -> Value {
    let mut v = booking(c);
    v.as_object_mut().unwrap().remove("externalId");
    v
}

fn lead(c: &Ctx) -> Value {
    json!({
        "customerId": c["customer"],
        "locationId": c["location"],
        "campaignId": c["campaign"],
        "businessUnitId": c["bu"],
        "jobTypeId": c["jobtype"],
        "summary": "AC blowing warm air; wants a quote for a new system.",
        "tagTypeIds": [],
        "priority": "High",
        "followUpDate": "2030-06-02T15:00:00Z",
        "leadCustomerName": "Schema Tester",
        "leadPhone": "(512) 555-0136",
        "leadEmail": "lead@example.com",
        "leadStreet": "2100 S Lamar Blvd",
        "leadUnit": "Apt 4",
        "leadCity": "Austin",
        "leadState": "TX",
        "leadZip": "78704",
        "leadCountry": "USA",
    })
}

fn lead_from_booking(c: &Ctx) -> Value {
    json!({ "campaignId": c["campaign"], "summary": "From the AI chat booking", "callReasonId": 1, "bookingId": c["booking"] })
}

fn lead_without_summary(c: &Ctx) -> Value {
    json!({ "campaignId": c["campaign"], "followUpDate": "2030-06-02T15:00:00Z" })
}

fn lead_with_unknown_campaign(c: &Ctx) -> Value {
    let mut v = lead(c);
    v["campaignId"] = json!(c["missing"]);
    v
}

fn cancel(_: &Ctx) -> Value {
    json!({ "reasonId": 1, "memo": "Customer canceled" })
}

fn cases() -> Vec<Case> {
    vec![
        // settings-v2
        case("settings-v2", "get", "/tenant/{tenant}/business-units").q("includeTotal=true").save(&[("bu", "/data/0/id")]),
        case("settings-v2", "get", "/tenant/{tenant}/business-units/{id}").id("bu"),
        case("settings-v2", "get", "/tenant/{tenant}/technicians").save(&[("tech", "/data/0/id")]),
        case("settings-v2", "get", "/tenant/{tenant}/technicians/{id}").id("tech"),
        // marketing-v2
        case("marketing-v2", "get", "/tenant/{tenant}/campaigns").save(&[("campaign", "/data/0/id")]),
        case("marketing-v2", "get", "/tenant/{tenant}/campaigns/{id}").id("campaign"),
        // jpm-v2 catalog
        case("jpm-v2", "get", "/tenant/{tenant}/job-types").q("active=Any&includeTotal=true").save(&[("jobtype", "/data/0/id")]),
        case("jpm-v2", "get", "/tenant/{tenant}/job-types/{id}").id("jobtype"),
        // crm-v2
        case("crm-v2", "post", "/tenant/{tenant}/customers")
            .body(new_customer)
            .save(&[("customer", "/id"), ("location", "/locations/0/id")]),
        case("crm-v2", "get", "/tenant/{tenant}/customers/{id}").id("customer"),
        case("crm-v2", "get", "/tenant/{tenant}/customers").q("phone=512-555-0132&includeTotal=true"),
        case("crm-v2", "get", "/tenant/{tenant}/customers").q("pageSize=100"),
        case("crm-v2", "post", "/tenant/{tenant}/customers/{id}/contacts").id("customer").body(contact),
        case("crm-v2", "get", "/tenant/{tenant}/customers/{id}/contacts").id("customer"),
        case("crm-v2", "post", "/tenant/{tenant}/customers/{id}/notes").id("customer").body(note),
        case("crm-v2", "get", "/tenant/{tenant}/customers/{id}/notes").id("customer"),
        case("crm-v2", "post", "/tenant/{tenant}/locations").body(new_location).save(&[("location2", "/id")]),
        case("crm-v2", "get", "/tenant/{tenant}/locations/{id}").id("location2"),
        case("crm-v2", "get", "/tenant/{tenant}/locations").q("customerId={customer}"),
        case("crm-v2", "post", "/tenant/{tenant}/locations/{id}/notes").id("location").body(note),
        case("crm-v2", "get", "/tenant/{tenant}/locations/{id}/notes").id("location"),
        case("crm-v2", "get", "/tenant/{tenant}/export/customers"),
        case("crm-v2", "get", "/tenant/{tenant}/export/locations").q("from=2020-01-01"),
        case("crm-v2", "post", "/tenant/{tenant}/booking-provider/{booking_provider}/bookings")
            .body(booking)
            .save(&[("booking", "/id")]),
        case("crm-v2", "get", "/tenant/{tenant}/booking-provider/{booking_provider}/bookings/{id}").id("booking"),
        case("crm-v2", "get", "/tenant/{tenant}/booking-provider/{booking_provider}/bookings").q("externalId=chat-42&includeTotal=true"),
        case("crm-v2", "post", "/tenant/{tenant}/leads").body(lead).save(&[("lead", "/id")]),
        case("crm-v2", "get", "/tenant/{tenant}/leads/{id}").id("lead"),
        case("crm-v2", "post", "/tenant/{tenant}/leads").body(lead_from_booking),
        case("crm-v2", "get", "/tenant/{tenant}/leads").q("customerId={customer}&status=Open&includeTotal=true"),
        case("crm-v2", "get", "/tenant/{tenant}/leads")
            .q("leadPhone=512-555-0136&createdOnOrAfter=2020-01-01T00:00:00Z&sort=-CreatedOn"),
        // telecom
        case("telecom", "get", "/v3/tenant/{tenant}/calls").q("pageSize=100&includeTotal=true"),
        case("telecom", "get", "/v3/tenant/{tenant}/calls").q("createdAfter=2020-01-01T00:00:00Z&minDuration=60&sort=-CreatedOn"),
        case("telecom", "get", "/v2/tenant/{tenant}/export/calls"),
        // jpm-v2 jobs
        case("jpm-v2", "post", "/tenant/{tenant}/jobs")
            .body(new_job)
            .save(&[("job", "/id"), ("invoice", "/invoiceId"), ("appointment", "/firstAppointmentId")]),
        case("jpm-v2", "get", "/tenant/{tenant}/jobs/{id}").id("job"),
        case("jpm-v2", "get", "/tenant/{tenant}/jobs").q("customerId={customer}&jobStatus=Scheduled"),
        case("jpm-v2", "get", "/tenant/{tenant}/jobs").q("pageSize=200"),
        case("jpm-v2", "post", "/tenant/{tenant}/jobs/{id}/notes").id("job").body(note),
        case("jpm-v2", "get", "/tenant/{tenant}/jobs/{id}/notes").id("job"),
        case("jpm-v2", "get", "/tenant/{tenant}/appointments").q("jobId={job}"),
        case("jpm-v2", "get", "/tenant/{tenant}/appointments").q("pageSize=200&active=Any"),
        case("jpm-v2", "get", "/tenant/{tenant}/appointments/{id}").id("appointment"),
        case("jpm-v2", "patch", "/tenant/{tenant}/appointments/{id}/reschedule")
            .id("appointment")
            .body(reschedule),
        case("jpm-v2", "post", "/tenant/{tenant}/appointments")
            .body(add_appointment)
            .save(&[("appointment2", "/id")]),
        case("jpm-v2", "get", "/tenant/{tenant}/appointments/{id}").id("appointment2"),
        case("jpm-v2", "get", "/tenant/{tenant}/export/jobs"),
        case("jpm-v2", "get", "/tenant/{tenant}/export/appointments"),
        // salestech-v2
        case("salestech-v2", "post", "/tenant/{tenant}/estimates").body(new_estimate).save(&[("estimate", "/id")]),
        case("salestech-v2", "get", "/tenant/{tenant}/estimates/{id}").id("estimate"),
        case("salestech-v2", "get", "/tenant/{tenant}/estimates").q("jobId={job}&status=Open"),
        case("salestech-v2", "get", "/tenant/{tenant}/estimates").q("pageSize=200&active=Any"),
        case("salestech-v2", "put", "/tenant/{tenant}/estimates/{id}/sell").id("estimate").body(sell),
        case("salestech-v2", "post", "/tenant/{tenant}/estimates").body(new_estimate).save(&[("estimate2", "/id")]),
        case("salestech-v2", "put", "/tenant/{tenant}/estimates/{id}/dismiss").id("estimate2"),
        case("salestech-v2", "get", "/tenant/{tenant}/export/estimates"),
        // accounting-v2
        case("accounting-v2", "get", "/tenant/{tenant}/invoices").q("ids={invoice}"),
        case("accounting-v2", "get", "/tenant/{tenant}/invoices")
            .q("pageSize=200&balanceFilter.Balance=0&balanceFilter.Comparer=Greater&includeTotal=true"),
        case("accounting-v2", "get", "/tenant/{tenant}/payments").q("pageSize=200"),
        case("accounting-v2", "get", "/tenant/{tenant}/export/invoices"),
        case("accounting-v2", "get", "/tenant/{tenant}/export/payments"),
        // jpm-v2 cancel (after the estimate work on the job)
        case("jpm-v2", "put", "/tenant/{tenant}/jobs/{id}/cancel").id("job").body(cancel),
        // Error answers are ApiErrorResponse.
        case("jpm-v2", "post", "/tenant/{tenant}/jobs").body(job_without_campaign).expect(400),
        case("crm-v2", "get", "/tenant/{tenant}/customers")
            .q("ids=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51")
            .expect(400),
        case("salestech-v2", "put", "/tenant/{tenant}/estimates/{id}/sell").id("estimate").body(sell).expect(400),
        case("crm-v2", "get", "/tenant/{tenant}/customers/{id}").id("missing").expect(404),
        case("crm-v2", "post", "/tenant/{tenant}/booking-provider/{booking_provider}/bookings")
            .body(booking_without_external_id)
            .expect(400),
        case("crm-v2", "get", "/tenant/{tenant}/booking-provider/{booking_provider}/bookings/{id}").id("missing").expect(404),
        case("telecom", "get", "/v3/tenant/{tenant}/calls").q("createdAfter=yesterday").expect(400),
        case("crm-v2", "post", "/tenant/{tenant}/leads").body(lead_without_summary).expect(400),
        case("crm-v2", "post", "/tenant/{tenant}/leads").body(lead_with_unknown_campaign).expect(400),
        case("crm-v2", "get", "/tenant/{tenant}/leads/{id}").id("missing").expect(404),
        case("crm-v2", "get", "/tenant/{tenant}/leads").q("status=Pending").expect(400),
        case("crm-v2", "post", "/tenant/{tenant}/locations").body(|_| json!({
            "customerId": 1, "name": "x", "address": address()
        })).expect(409),
    ]
}

/// The server path of a spec file: `/{module}/v2`, except telecom, whose paths carry their own version.
fn server_of(file: &str) -> &'static str {
    match file {
        "settings-v2" => "/settings/v2",
        "jpm-v2" => "/jpm/v2",
        "crm-v2" => "/crm/v2",
        "salestech-v2" => "/sales/v2",
        "accounting-v2" => "/accounting/v2",
        "marketing-v2" => "/marketing/v2",
        "telecom" => "/telecom",
        other => panic!("no module for {other}"),
    }
}

/// Any int64 tag works as a booking provider id.
const BOOKING_PROVIDER: i64 = 77;

#[tokio::test]
async fn responses_and_requests_match_the_official_openapi_specs() {
    let files = [
        "settings-v2",
        "jpm-v2",
        "crm-v2",
        "salestech-v2",
        "accounting-v2",
        "marketing-v2",
        "telecom",
    ];
    let Some(specs) = Specs::load(&files) else { return };
    let validate =
        |file: &str, schema: &Value, instance: &Value, what: &str| specs.validate(file, schema, instance, what);

    // The validator must actually bite: wrong shapes are rejected.
    let err_schema = json!({ "$ref": "#/components/schemas/ApiErrorResponse" });
    assert!(!validate("crm-v2", &err_schema, &json!({ "title": "x" }), "self-check").is_empty());
    let customer_schema = json!({ "$ref": "#/components/schemas/Crm.V2.Customers.CustomerResponse" });
    let bad_customer = json!({ "id": 1, "active": true, "name": "x", "type": "Residential", "unexpected": 1 });
    let errs = validate("crm-v2", &customer_schema, &bad_customer, "self-check");
    assert!(
        errs.iter().any(|e| e.contains("unexpected")),
        "additionalProperties not enforced: {errs:?}"
    );
    let bad_date =
        json!({ "type": "t", "title": "t", "status": 1, "traceId": "x", "errors": { "a": [1] }, "data": {} });
    assert!(!validate("crm-v2", &err_schema, &bad_date, "self-check").is_empty());

    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let mut ctx: Ctx = HashMap::new();
    ctx.insert("missing", 999_999_999);
    let mut failures: Vec<String> = Vec::new();
    let mut covered = 0;
    let mut operations: Vec<(&str, &str, &str)> = Vec::new();

    for c in cases() {
        let doc = specs.doc(c.file);
        let op = &doc["paths"][c.path][c.method];
        assert!(op.is_object(), "{} {} {} is not in the spec", c.file, c.method, c.path);
        let mut path = c
            .path
            .replace("{tenant}", &api.creds.tenant_id.to_string())
            .replace("{booking_provider}", &BOOKING_PROVIDER.to_string());
        if let Some(name) = c.id {
            path = path.replace("{id}", &ctx[name].to_string());
        }
        let mut query = c.query.to_string();
        for (k, v) in &ctx {
            query = query.replace(&format!("{{{k}}}"), &v.to_string());
        }
        let url = format!(
            "{}{}{path}{}",
            api.base,
            server_of(c.file),
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        );
        let what = format!(
            "{} {} {}{}",
            c.method.to_uppercase(),
            c.file,
            c.path,
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        );
        let body = c.body.map(|f| f(&ctx));
        if let (Some(b), 200) = (&body, c.expect) {
            let req_schema = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(req_schema.is_object(), "{what}: no request schema");
            failures.extend(validate(c.file, req_schema, b, &format!("{what} [request]")));
        }
        let method = Method::from_bytes(c.method.to_uppercase().as_bytes()).unwrap();
        let r = api.send_url(method, &url, body.as_ref()).await;
        assert_eq!(r.status, StatusCode::from_u16(c.expect).unwrap(), "{what}: {}", r.text);
        covered += 1;
        operations.push((c.file, c.path, c.method));
        if c.expect == 200 {
            let resp_schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
            if resp_schema.is_object() {
                failures.extend(validate(c.file, resp_schema, &r.json, &what));
                if r.json.get("data").and_then(Value::as_array).is_some_and(Vec::is_empty) && !what.contains("notes") {
                    failures.push(format!("{what}: empty data — nothing was validated"));
                }
            } else {
                assert!(r.text.is_empty(), "{what}: spec declares no body but got {}", r.text);
            }
        } else {
            let err_schema = json!({ "$ref": "#/components/schemas/ApiErrorResponse" });
            failures.extend(validate(
                c.file,
                &err_schema,
                &r.json,
                &format!("{what} [{}]", c.expect),
            ));
        }
        for (name, pointer) in c.save {
            let id = r.json.pointer(pointer).and_then(Value::as_i64);
            ctx.insert(
                name,
                id.unwrap_or_else(|| panic!("{what}: no id at {pointer}: {}", r.text)),
            );
        }
    }

    // Auth-layer errors use the same error shape.
    let client = common::http();
    let unauth = client.get(api.url("crm", "/customers")).send().await.unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);
    let body: Value = unauth.json().await.unwrap();
    let err_schema = json!({ "$ref": "#/components/schemas/ApiErrorResponse" });
    failures.extend(validate("crm-v2", &err_schema, &body, "401"));

    // The request log has every call, in order, and each concrete path maps back to the operation it was sent for.
    let log = sb.requests();
    assert_eq!(log.len(), operations.len() + 1, "the cases and the 401");
    for (entry, want) in log.iter().zip(&operations) {
        let (method, path) = (entry["method"].as_str().unwrap(), entry["path"].as_str().unwrap());
        assert_eq!(specs.operation(method, path), Some(*want), "{method} {path}");
    }
    assert_eq!(log.last().unwrap()["status"], 401);

    sb.stop().await;
    assert!(covered >= 50, "covered {covered}");
    assert!(
        failures.is_empty(),
        "{} schema violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

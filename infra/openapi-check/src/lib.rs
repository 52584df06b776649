//! ServiceTitan's official OpenAPI documents, for schema checks in tests: JSON validated against their schemas
//! ([`Specs::validate`]), and the operation a concrete request path belongs to ([`Specs::operation`]).
//!
//! The documents are not in this repository. They are read from `SERVICETITAN_OPENAPI_DIR`, by default
//! `../shared/servicetitan-openapi` beside the repository; where they are absent, [`Specs::load`] says where to get
//! them and the calling test skips.

use std::collections::HashMap;
use std::path::PathBuf;

use jsonschema::{Draft, Registry, Resource};
use serde_json::{Value, json};

pub struct Specs {
    docs: HashMap<String, Value>,
    registry: Registry<'static>,
}

/// Where the documents are looked for.
pub fn spec_dir() -> PathBuf {
    match std::env::var_os("SERVICETITAN_OPENAPI_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/servicetitan-openapi"),
    }
}

fn doc_uri(file: &str) -> String {
    format!("https://specs.servicetitan.local/{file}.json")
}

impl Specs {
    /// Loads `files` (names without `.json`, e.g. `crm-v2`), or prints why not and returns `None`.
    pub fn load(files: &[&str]) -> Option<Self> {
        let dir = spec_dir();
        if !files.iter().all(|f| dir.join(format!("{f}.json")).exists()) {
            println!(
                "skipping: ServiceTitan OpenAPI specs not found at {}; download them from ServiceTitan's developer \
                 portal (developer.servicetitan.io, API reference → OpenAPI document) or set SERVICETITAN_OPENAPI_DIR",
                dir.display()
            );
            return None;
        }
        let mut docs = HashMap::new();
        let mut registry = Registry::new();
        for f in files {
            let text = std::fs::read_to_string(dir.join(format!("{f}.json"))).expect("read spec");
            let doc: Value = serde_json::from_str(&text).expect("spec is JSON");
            registry = registry
                .add(doc_uri(f), Resource::from_contents(doc.clone()))
                .expect("register spec document");
            docs.insert((*f).to_owned(), doc);
        }
        Some(Self {
            docs,
            registry: registry.prepare().expect("prepare registry"),
        })
    }

    pub fn doc(&self, file: &str) -> &Value {
        self.docs
            .get(file)
            .unwrap_or_else(|| panic!("spec {file} was not loaded"))
    }

    /// The operation's request body schema (a `$ref`), or `Null`.
    pub fn request_schema(&self, file: &str, path: &str, method: &str) -> &Value {
        &self.doc(file)["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    }

    /// The operation of a loaded document that serves `method` on a concrete API path: (spec file, path template,
    /// method in lower case). `POST /crm/v2/tenant/1001/customers/55/notes` →
    /// `("crm-v2", "/tenant/{tenant}/customers/{id}/notes", "post")`.
    ///
    /// The file is the one whose server URL path (`/crm/v2`; telecom's is `/telecom`, its paths carry the version)
    /// prefixes `path`; within it, a template matches segment by segment, a `{param}` taking any segment (only an
    /// integer where the parameter is an integer). Literal segments win over parameters, as in ServiceTitan's
    /// routing: `/leads/form` is not `/leads/{id}`. A query string on `path` is ignored.
    pub fn operation(&self, method: &str, path: &str) -> Option<(&str, &str, &'static str)> {
        const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
        let method = METHODS.into_iter().find(|m| m.eq_ignore_ascii_case(method))?;
        let path = path.split('?').next().unwrap_or(path);
        let mut files: Vec<&String> = self.docs.keys().collect();
        files.sort();
        let mut best: Option<(Vec<bool>, &str, &str)> = None;
        for file in files {
            let doc = &self.docs[file];
            for prefix in server_paths(doc) {
                let Some(rest) = path.strip_prefix(prefix.as_str()).filter(|r| r.starts_with('/')) else {
                    continue;
                };
                for (template, item) in doc["paths"].as_object().into_iter().flatten() {
                    if !item[method].is_object() {
                        continue;
                    }
                    if let Some(literals) = match_template(template, item, method, rest)
                        && best.as_ref().is_none_or(|(b, _, _)| literals > *b)
                    {
                        best = Some((literals, file.as_str(), template.as_str()));
                    }
                }
            }
        }
        best.map(|(_, file, template)| (file, template, method))
    }

    /// Checks `instance` against `schema`, which must be a local `$ref` into `file`; returns the violations, each
    /// prefixed with `what`. Formats are checked too.
    pub fn validate(&self, file: &str, schema: &Value, instance: &Value, what: &str) -> Vec<String> {
        let reference = schema["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: inline schema {schema}; expected a $ref"));
        assert!(reference.starts_with("#/"), "{file}: non-local $ref {reference}");
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .build(&json!({ "$ref": format!("{}{reference}", doc_uri(file)) }))
            .unwrap_or_else(|e| panic!("{what}: schema does not compile: {e}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("{what}: {} at {} (schema {})", e, e.instance_path(), e.schema_path()))
            .collect()
    }
}

/// The path parts of a document's server URLs (`https://api.servicetitan.io/crm/v2` → `/crm/v2`), without repeats.
fn server_paths(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for server in doc["servers"].as_array().into_iter().flatten() {
        let Some(url) = server["url"].as_str() else { continue };
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
        let path = path.trim_end_matches('/').to_owned();
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// Whether `concrete` (a path below the server URL) fits `template`; `Some` of which segments were literals.
fn match_template(template: &str, item: &Value, method: &str, concrete: &str) -> Option<Vec<bool>> {
    let want: Vec<&str> = template.split('/').collect();
    let have: Vec<&str> = concrete.split('/').collect();
    if want.len() != have.len() {
        return None;
    }
    let mut literals = Vec::with_capacity(want.len());
    for (w, h) in want.iter().zip(&have) {
        match w.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => {
                if h.is_empty() || (integer_param(item, method, name) && h.parse::<i64>().is_err()) {
                    return None;
                }
                literals.push(false);
            }
            None => {
                if !w.eq_ignore_ascii_case(h) {
                    return None;
                }
                literals.push(true);
            }
        }
    }
    Some(literals)
}

/// Whether the path parameter `name` of the operation (or of its path item) is declared an integer.
fn integer_param(item: &Value, method: &str, name: &str) -> bool {
    let declared = [&item[method]["parameters"], &item["parameters"]]
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .find(|p| p["in"] == "path" && p["name"] == name);
    declared.is_some_and(|p| match &p["schema"]["type"] {
        Value::String(t) => t == "integer",
        Value::Array(ts) => ts.iter().any(|t| t == "integer"),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Value {
        json!({
            "get": { "parameters": [
                { "name": "tenant", "in": "path", "schema": { "type": "integer", "format": "int64" } },
                { "name": "id", "in": "path", "schema": { "type": "integer", "format": "int64" } },
            ] },
        })
    }

    #[test]
    fn templates_match_segment_by_segment() {
        let t = "/tenant/{tenant}/leads/{id}";
        assert_eq!(
            match_template(t, &item(), "get", "/tenant/1001/leads/55"),
            Some(vec![true, true, false, true, false])
        );
        assert_eq!(
            match_template(t, &item(), "get", "/tenant/1001/leads/form"),
            None,
            "id is int64"
        );
        assert_eq!(match_template(t, &item(), "get", "/tenant/1001/leads"), None);
        assert_eq!(match_template(t, &item(), "get", "/tenant/1001/leads/"), None);
        assert_eq!(match_template(t, &item(), "get", "/tenant/1001/calls/55"), None);
        // Literal segments rank above parameters.
        let literal = match_template("/tenant/{tenant}/leads/form", &item(), "get", "/tenant/1/leads/form").unwrap();
        let param = match_template("/tenant/{tenant}/leads/{name}", &item(), "get", "/tenant/1/leads/form").unwrap();
        assert!(literal > param);
    }

    #[test]
    fn server_paths_are_the_url_paths() {
        let doc = json!({ "servers": [
            { "url": "https://api.servicetitan.io/crm/v2" },
            { "url": "https://api-integration.servicetitan.io/crm/v2/" },
        ] });
        assert_eq!(server_paths(&doc), vec!["/crm/v2".to_owned()]);
    }

    #[test]
    fn concrete_paths_map_to_their_spec_operation() {
        let Some(specs) = Specs::load(&["crm-v2", "jpm-v2", "salestech-v2", "telecom"]) else {
            return;
        };
        let cases = [
            (
                "POST",
                "/crm/v2/tenant/1001/customers/55/notes",
                Some(("crm-v2", "/tenant/{tenant}/customers/{id}/notes", "post")),
            ),
            (
                "get",
                "/crm/v2/tenant/1001/customers?phone=5125550142",
                Some(("crm-v2", "/tenant/{tenant}/customers", "get")),
            ),
            (
                "POST",
                "/crm/v2/tenant/1001/leads/form",
                Some(("crm-v2", "/tenant/{tenant}/leads/form", "post")),
            ),
            (
                "GET",
                "/crm/v2/tenant/1001/leads/10042",
                Some(("crm-v2", "/tenant/{tenant}/leads/{id}", "get")),
            ),
            (
                "GET",
                "/crm/v2/tenant/1001/booking-provider/77/bookings",
                Some((
                    "crm-v2",
                    "/tenant/{tenant}/booking-provider/{booking_provider}/bookings",
                    "get",
                )),
            ),
            (
                "PATCH",
                "/jpm/v2/tenant/1001/appointments/9/reschedule",
                Some(("jpm-v2", "/tenant/{tenant}/appointments/{id}/reschedule", "patch")),
            ),
            (
                "PUT",
                "/sales/v2/tenant/1001/estimates/9/sell",
                Some(("salestech-v2", "/tenant/{tenant}/estimates/{id}/sell", "put")),
            ),
            (
                "GET",
                "/telecom/v3/tenant/1001/calls",
                Some(("telecom", "/v3/tenant/{tenant}/calls", "get")),
            ),
            (
                "GET",
                "/telecom/v2/tenant/1001/export/calls",
                Some(("telecom", "/v2/tenant/{tenant}/export/calls", "get")),
            ),
            // Not an operation: wrong method, a non-integer id, an unloaded module, no server prefix.
            ("DELETE", "/crm/v2/tenant/1001/customers", None),
            ("GET", "/crm/v2/tenant/1001/customers/abc", None),
            ("GET", "/accounting/v2/tenant/1001/invoices", None),
            ("GET", "/tenant/1001/customers", None),
            ("BREW", "/crm/v2/tenant/1001/customers", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(specs.operation(method, path), want, "{method} {path}");
        }
    }
}

//! ServiceTitan's official OpenAPI documents, for schema checks in tests.
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

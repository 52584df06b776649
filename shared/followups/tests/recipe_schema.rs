//! Every shipped recipe document is valid against docs/recipe.schema.json, which rejects what it should.

use followups::recipe::Catalogue;
use serde_json::{Value, json};

fn validator() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/recipe.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the recipe schema compiles")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn shipped_recipes_follow_the_schema() {
    let v = validator();
    let catalogue = Catalogue::load().unwrap();
    assert_eq!(catalogue.all().len(), 8);
    for recipe in catalogue.all() {
        let doc: Value = serde_json::from_str(Catalogue::document(&recipe.id).unwrap()).unwrap();
        assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{}", recipe.id);
    }
}

#[test]
fn the_schema_rejects_bad_documents() {
    let v = validator();
    let mut doc: Value = serde_json::from_str(Catalogue::document("invoice_dunning").unwrap()).unwrap();
    doc["steps"][0]["delay"] = json!("tomorrow");
    doc["steps"][1]["channel"] = json!("fax");
    doc["colour"] = json!("red");
    doc["repeat"]["maxTimes"] = json!(99);
    let found = errors(&v, &doc);
    assert_eq!(found.len(), 4, "{found:#?}");
}

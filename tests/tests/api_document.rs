//! docs/api.yaml describes every HTTP route of the deployed template, and nothing else.

use std::collections::BTreeSet;

use integration_tests::repo_root;
use local_stack::template::Template;

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// (METHOD or ANY, path) of every `HttpApi` event in the template.
fn template_routes() -> BTreeSet<(String, String)> {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let mut routes = BTreeSet::new();
    for (_, function) in template.resources_of_type("AWS::Serverless::Function") {
        for (_, event) in function["Properties"]["Events"].as_object().into_iter().flatten() {
            if event["Type"] == "HttpApi" {
                let p = &event["Properties"];
                routes.insert((
                    p["Method"].as_str().unwrap_or("ANY").to_ascii_uppercase(),
                    p["Path"].as_str().expect("HttpApi events have a Path").to_owned(),
                ));
            }
        }
    }
    routes
}

/// (METHOD, path) of every operation in the document.
fn documented_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("docs/api.yaml")).unwrap();
    let doc = Template::parse(&text).unwrap().doc;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths").iter() {
        // A path item may be another's, by reference (the dashboard's routes are the admin API's tenant routes).
        let item = match item["$ref"].as_str() {
            Some(r) => {
                let target = r
                    .strip_prefix("#/paths/")
                    .unwrap_or_else(|| panic!("{path}: only #/paths/ references"))
                    .replace("~1", "/")
                    .replace("~0", "~");
                &doc["paths"][target.as_str()]
            }
            None => item,
        };
        assert!(item.is_object(), "{path} refers to no path item");
        for method in METHODS {
            if item.get(*method).is_some() {
                routes.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn every_template_route_is_documented_and_every_documented_route_is_deployed() {
    let deployed = template_routes();
    let documented = documented_routes();
    assert!(!deployed.is_empty());
    for (method, path) in &deployed {
        // An ANY route is documented by the methods it serves (the others answer 405).
        let covered = documented
            .iter()
            .any(|(m, p)| p == path && (method == "ANY" || m == method));
        assert!(covered, "{method} {path} is in template.yaml but not in docs/api.yaml");
    }
    for (method, path) in &documented {
        let deployed_here = deployed.iter().any(|(m, p)| p == path && (m == "ANY" || m == method));
        assert!(
            deployed_here,
            "{method} {path} is in docs/api.yaml but not in template.yaml"
        );
        assert!(
            !path.starts_with("/_local"),
            "local-only routes are not part of the deployed API"
        );
    }
}

/// The document names the recipe ids twice (the settings' enum, the preview's pattern): both must be exactly the
/// catalogue's, so a new recipe cannot be refused by the document or slip past it.
#[test]
fn the_documents_recipe_ids_are_the_catalogues() {
    let text = std::fs::read_to_string(repo_root().join("docs/api.yaml")).unwrap();
    let doc = Template::parse(&text).unwrap().doc;
    let catalogue: BTreeSet<String> = followups::recipe::Catalogue::load()
        .unwrap()
        .all()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let settings: BTreeSet<String> =
        doc["components"]["schemas"]["TenantSettings"]["properties"]["recipes"]["items"]["enum"]
            .as_array()
            .expect("the settings' recipes enum")
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
    assert_eq!(settings, catalogue, "settings recipes enum");
    let preview = doc["paths"]["/admin/tenants/{tenantId}/preview"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "recipes")
        .expect("the preview's recipes parameter")["schema"]["pattern"]
        .as_str()
        .unwrap()
        .to_owned();
    let alternatives = format!("({})", catalogue.iter().cloned().collect::<Vec<_>>().join("|"));
    let in_pattern: BTreeSet<String> = preview
        .split(['(', ')', '|', ',', ' ', '*', '?', '^', '$'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        in_pattern, catalogue,
        "preview recipes pattern {preview} (expected alternatives {alternatives})"
    );
}

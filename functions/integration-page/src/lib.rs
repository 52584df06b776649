//! The contractors' integration page: one HTML page and its assets, compiled into the function, served under
//! `/integrations/servicetitan`. The page calls the dashboard API (`/dashboard/tenants/{id}/…`) with the
//! contractor's token, which the host platform hands it in the URL's fragment (never sent to a server).
//!
//! The page is public; what it shows is not: every call it makes carries the token, which API Gateway verifies.
//! Its Content-Security-Policy allows scripts, styles and requests to this origin only: nothing is fetched from the
//! internet at run time.

use http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

/// (file name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/api.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/charts.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
];

const PAGE: &str = include_str!("../assets/index.html");

/// Scripts, styles and API calls from this origin only; no inline script; no plug-ins or forms posted elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

fn respond(status: StatusCode, content_type: &str, cache: &str, body: &str, head: bool) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, cache)
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(if head { Body::Empty } else { Body::Text(body.to_owned()) })
        .expect("a response from constant parts")
}

/// The page at `/integrations/servicetitan`, its assets under `…/assets/{file}`.
pub fn handle(req: &Request) -> Response<Body> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "application/json",
            "no-store",
            r#"{"error":{"code":"method_not_allowed","message":"this route accepts GET"}}"#,
            false,
        );
        r.headers_mut()
            .insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.raw_http_path();
    let rest = path
        .find("/integrations/servicetitan")
        .map(|i| &path[i + "/integrations/servicetitan".len()..])
        .unwrap_or(path);
    match rest.trim_end_matches('/') {
        "" => respond(StatusCode::OK, "text/html; charset=utf-8", "no-store", PAGE, head),
        asset => match asset
            .strip_prefix("/assets/")
            .and_then(|name| ASSETS.iter().find(|(n, _, _)| *n == name))
        {
            Some((_, content_type, body)) => respond(StatusCode::OK, content_type, "public, max-age=300", body, head),
            None => respond(
                StatusCode::NOT_FOUND,
                "application/json",
                "no-store",
                r#"{"error":{"code":"not_found","message":"no such page or asset"}}"#,
                head,
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Response<Body> {
        let req = http::Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(Body::Empty)
            .unwrap()
            .with_raw_http_path(path);
        handle(&req)
    }

    #[test]
    fn the_page_and_its_assets_with_a_strict_policy() {
        let page = get("/integrations/servicetitan");
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            page.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        let Body::Text(html) = page.body() else { panic!() };
        for label in ["Client ID", "Client Secret", "App Key", "Tenant ID"] {
            assert!(html.contains(&format!(">{label}<")), "{label}");
        }
        assert!(
            !html.contains("http://") && !html.contains("https://cdn"),
            "nothing from elsewhere"
        );
        assert_eq!(get("/integrations/servicetitan/assets/app.js").status(), StatusCode::OK);
        assert_eq!(
            get("/prod/integrations/servicetitan/").status(),
            StatusCode::OK,
            "behind a stage"
        );
        assert_eq!(
            get("/integrations/servicetitan/assets/../secret").status(),
            StatusCode::NOT_FOUND
        );
        for (name, _, body) in ASSETS {
            assert!(
                !body.contains("https://") || *name == "app.js",
                "{name} loads nothing from elsewhere"
            );
        }
    }
}

//! A real browser for the page tests: Debian's Chromium, headless, driven through its ChromeDriver (both installed
//! by `make tools`) with a WebDriver client, plus axe-core (also installed by `make tools`) run inside the page.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::repo_root;

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: TempDir,
}

/// A directory removed when dropped (Chromium's profile).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium whose viewport is `width` CSS pixels wide.
    pub async fn start(width: u32) -> Self {
        for tool in ["chromium", "chromedriver"] {
            assert!(
                std::process::Command::new(tool).arg("--version").output().is_ok(),
                "{tool} is missing: run `make tools` (it installs Debian's chromium and chromium-driver)"
            );
        }
        let port = free_port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = std::env::temp_dir().join(format!("page-test-{}-{port}", std::process::id()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                // Without the background-networking switches Chromium keeps trying Google's hosts.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display()),
                ],
                // Headless Chromium's windows are at least 500 px wide; a phone's width needs its emulation.
                "mobileEmulation": {"deviceMetrics": {"width": width, "height": 1600, "pixelRatio": 1.0}},
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session");
        Self {
            client,
            driver,
            _profile: TempDir(profile),
        }
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
    }

    /// Waits (up to 10 s) until `script` (a JavaScript expression) is truthy; its value.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        for _ in 0..200 {
            let value = self
                .client
                .execute(&format!("return ({script});"), vec![])
                .await
                .unwrap_or(Value::Null);
            if !value.is_null() && value != json!(false) && value != json!("") {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let body = self.text("main").await;
        panic!("waited 10 s for {what} ({script}); the page says:\n{body}");
    }

    /// The visible text of the first element `css` matches.
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Types into a field (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.client.find(Locator::Css(css)).await.expect(css);
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("no {css}"))
            .click()
            .await
            .expect("click");
    }

    /// Runs a script in the page.
    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("the script runs")
    }

    /// Saves a screenshot of the element `css` matches as `docs/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str, css: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("no {css}"));
        // Chromium crops an element's screenshot to the viewport: the element's top goes to the viewport's top.
        let arg = serde_json::to_value(&element).expect("an element reference");
        self.client
            .execute("arguments[0].scrollIntoView({block: 'start'});", vec![arg])
            .await
            .expect("scrolls");
        let png = element.screenshot().await.expect("a screenshot");
        let dir = repo_root().join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("docs/screenshots");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
    }

    /// axe-core's serious and critical violations on the page as it is now.
    pub async fn accessibility_violations(&self) -> Vec<Value> {
        let axe = repo_root().join(".local/node/node_modules/axe-core/axe.min.js");
        let source =
            std::fs::read_to_string(&axe).unwrap_or_else(|_| panic!("{} is missing: run `make tools`", axe.display()));
        self.run(&source).await;
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations)).catch(e => done(String(e)));",
                vec![],
            )
            .await
            .expect("axe runs");
        result
            .as_array()
            .unwrap_or_else(|| panic!("axe failed: {result}"))
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .cloned()
            .collect()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

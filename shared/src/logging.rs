//! The functions' log subscriber: lambda_runtime's default (level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON
//! when Lambda's advanced logging asks for it, no timestamps since Lambda adds its own), except that a JSON line
//! names its spans once. The default writes the innermost span twice, as `span` and again at the end of `spans`,
//! and log bytes are billed per GB ingested.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the subscriber, writing to stdout. Call once, first thing in `main`.
pub fn init() {
    init_with_writer(
        std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")),
        std::io::stdout,
    );
}

/// [`init`] with the format chosen and any writer (tests capture the lines).
pub fn init_with_writer<W>(json: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| LevelFilter::from_str(&l).ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        )
        .with_writer(writer);
    if json {
        builder.json().with_current_span(false).with_span_list(true).init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::info;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_names_its_spans_once() {
        let lines = Lines::default();
        let writer = lines.clone();
        super::init_with_writer(true, move || writer.clone());
        tracing::info_span!("message", id = "m-1").in_scope(|| info!(tenant = "7", "processed"));
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().expect("one line")).unwrap();
        assert_eq!(line["fields"]["message"], "processed");
        assert_eq!(line["spans"][0]["id"], "m-1", "{line}");
        assert!(line.get("span").is_none(), "the innermost span is not repeated: {line}");
    }
}

//! Structured logs for the Lambda functions: one JSON object per line, with the fields of every
//! enclosing span (the Lambda runtime's `requestId`, then draftgate's `provider`, `deal`,
//! `message_id`, `draft_id`), so CloudWatch Logs Insights can filter on any of them.
//!
//! What is logged is chosen so that secrets, tokens, signatures and message bodies never appear:
//! those values are held in `Secret` (whose `Debug` and `Display` are redacted) or never passed
//! to a log macro at all. `tests/tests/logs.rs` runs a whole flow under this subscriber and
//! checks that none of the secrets, tokens or bodies it used reached the output.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Quiet by default for the SDK and HTTP stacks, whose debug output would include request
/// details; `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`) overrides it.
const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,aws_sdk_dynamodb=warn,\
aws_sdk_sqs=warn,aws_sdk_s3=warn,hyper=warn,hyper_util=warn,reqwest=warn,rustls=warn,h2=warn";

/// The filter: `RUST_LOG` if set, else Lambda's advanced-logging level, else [`DEFAULT_FILTER`].
///
/// Directives are `level` and `target=level`, comma-separated (`Targets`' syntax: no span or field
/// filters, which would link a regex engine into every function for a feature no one sets). A
/// directive that does not parse is ignored in favour of the next source.
pub fn filter() -> Targets {
    if let Some(f) = std::env::var("RUST_LOG").ok().and_then(|v| v.parse().ok()) {
        return f;
    }
    if let Ok(level) = std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        let level = level.to_ascii_lowercase();
        if let Ok(f) = DEFAULT_FILTER.replacen("info", &level, 1).parse() {
            return f;
        }
    }
    default_filter()
}

fn default_filter() -> Targets {
    DEFAULT_FILTER
        .parse()
        .expect("DEFAULT_FILTER parses (pinned by a test)")
}

/// A JSON subscriber writing to `writer`: the event's fields at the top level, the current span
/// and the list of enclosing spans with their fields, an RFC 3339 timestamp and the level.
pub fn json_subscriber<W>(writer: W, filter: Targets) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_target(true)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(filter)
}

/// An in-memory log destination, for tests that read back what was logged.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Capture {
    type Writer = Capture;
    fn make_writer(&'w self) -> Capture {
        self.clone()
    }
}

/// Installs the JSON subscriber on stdout for the whole process (what Lambda captures).
pub fn init_json() {
    // Fails only if a subscriber is already set, e.g. by a test harness: keep that one.
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout, filter()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_is_json_with_the_fields_of_every_enclosing_span() {
        let buf = Capture::default();
        let subscriber = json_subscriber(buf.clone(), "info".parse().expect("a level"));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("Lambda runtime invoke", requestId = "req-1");
            let _r = request.enter();
            let webhook = tracing::info_span!("webhook", provider = "hubspot");
            let _w = webhook.enter();
            let deal = tracing::info_span!("deal", deal = "hubspot:42");
            let _d = deal.enter();
            tracing::info!(accepted = 2, "recorded");
        });
        let text = buf.text();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["message"], "recorded");
        assert_eq!(line["accepted"], 2);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["span"]["deal"], "hubspot:42");
        let spans = line["spans"].as_array().unwrap();
        assert_eq!(spans[0]["requestId"], "req-1");
        assert_eq!(spans[1]["provider"], "hubspot");
    }

    #[test]
    fn the_default_filter_keeps_draftgate_at_info_and_the_sdk_stacks_at_warn() {
        use tracing::Level;
        let filter: Targets = DEFAULT_FILTER.parse().expect("the default filter parses");
        assert!(filter.would_enable("shared::app", &Level::INFO));
        assert!(!filter.would_enable("shared::app", &Level::DEBUG));
        assert!(filter.would_enable("aws_config::imds", &Level::WARN));
        assert!(!filter.would_enable("aws_config::imds", &Level::INFO));
        assert!(!filter.would_enable("hyper_util::client", &Level::INFO));
    }
}

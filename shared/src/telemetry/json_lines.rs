//! The JSON log line for CloudWatch: one object per event with its fields, the fields of every
//! span it happens in (so a handler's warning carries the request id of the request it belongs
//! to, and a job's lines the id of the request that queued it), and, on Lambda, the invocation's
//! `aws_request_id`, its X-Ray `trace_id` and whether it was the environment's first invocation
//! (`cold_start`). Logs Insights can then join every line of one request, one trace or one cold
//! start without parsing messages.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The span `lambda_runtime` opens around each invocation.
const INVOCATION_SPAN: &str = "Lambda runtime invoke";

/// Its fields, and the names our lines give them (the names Lambda's own logs use).
const INVOCATION_FIELDS: [(&str, &str); 3] =
    [("requestId", "aws_request_id"), ("xrayTraceId", "trace_id"), ("tenantId", "tenant_id")];

/// Set by the first invocation this process sees: every later one is warm.
static INVOKED_BEFORE: AtomicBool = AtomicBool::new(false);

/// A layer that writes each event as one JSON line through `writer`.
pub(super) struct JsonLines<W> {
    writer: W,
}

impl<W> JsonLines<W> {
    pub(super) fn new(writer: W) -> Self {
        Self { writer }
    }
}

/// A span's fields, kept in its extensions until it closes.
#[derive(Default)]
struct SpanFields(Map<String, Value>);

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let Some(span) = context.span(id) else { return };
        let mut fields = SpanFields::default();
        attributes.record(&mut JsonFields(&mut fields.0));
        if span.name() == INVOCATION_SPAN {
            rename_invocation_fields(&mut fields.0);
            fields.0.insert("cold_start".into(), Value::Bool(!INVOKED_BEFORE.swap(true, Ordering::Relaxed)));
        }
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, context: Context<'_, S>) {
        let Some(span) = context.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut JsonFields(&mut fields.0));
            if span.name() == INVOCATION_SPAN {
                rename_invocation_fields(&mut fields.0);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = context.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.0.iter().map(|(name, value)| (name.clone(), value.clone())));
                }
            }
        }
        event.record(&mut JsonFields(&mut fields));
        let metadata = event.metadata();
        fields.insert("target".into(), Value::String(metadata.target().to_owned()));
        let line = format_line(&timestamp(), metadata.level().as_str(), &fields);
        // One write per line: a line is never split between two writers. Nowhere to report a
        // failed log write.
        let _ = self.writer.make_writer().write_all(line.as_bytes());
    }
}

fn rename_invocation_fields(fields: &mut Map<String, Value>) {
    for (theirs, ours) in INVOCATION_FIELDS {
        if let Some(value) = fields.remove(theirs) {
            fields.insert(ours.into(), value);
        }
    }
}

/// `{"timestamp":…,"level":…,<fields>}` and a newline: time and level first, where a person
/// reading the raw line looks.
fn format_line(timestamp: &str, level: &str, fields: &Map<String, Value>) -> String {
    let mut line = format!("{{\"timestamp\":{},\"level\":{}", Value::from(timestamp), Value::from(level));
    for (name, value) in fields {
        line.push(',');
        line.push_str(&Value::from(name.as_str()).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push_str("}\n");
    line
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Records fields as JSON values: numbers and booleans as themselves, everything else as text.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl JsonFields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        // `r#type` is logged as `type`; a field named like one the line itself writes is kept
        // apart instead of clashing with it.
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        let name = match name {
            "timestamp" | "level" | "target" => format!("field_{name}"),
            other => other.to_owned(),
        };
        self.0.insert(name, value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            serde_json::Number::from_f64(value).map_or_else(|| Value::from(value.to_string()), Value::Number),
        );
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    use super::JsonLines;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<Value> {
            let text = String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8");
            text.lines().map(|line| serde_json::from_str(line).expect("each line is one JSON object")).collect()
        }
    }

    fn capture(run: impl FnOnce()) -> Vec<Value> {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, run);
        out.lines()
    }

    #[test]
    fn a_line_has_time_level_target_message_and_typed_fields() {
        let lines = capture(|| {
            tracing::warn!(
                count = 3,
                ratio = 0.5,
                ok = true,
                name = "x",
                r#type = "y",
                timestamp = 1,
                "it {}",
                "happened"
            )
        });
        let [line] = lines.as_slice() else { panic!("one line: {lines:?}") };
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "it happened");
        assert_eq!(line["target"], module_path!());
        assert_eq!(
            (line["count"].clone(), line["ratio"].clone(), line["ok"].clone()),
            (json!(3), json!(0.5), json!(true))
        );
        assert_eq!((line["name"].as_str(), line["type"].as_str()), (Some("x"), Some("y")));
        assert_eq!(line["field_timestamp"].as_i64(), Some(1), "no clash: {line}");
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(), "{timestamp}");
    }

    #[test]
    fn every_line_of_an_invocation_carries_its_request_trace_and_cold_start_and_the_spans_fields() {
        let lines = capture(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            for (request, trace) in [("req-1", "Root=1-a-b"), ("req-2", "Root=1-c-d")] {
                let invocation = tracing::info_span!("Lambda runtime invoke", requestId = request, xrayTraceId = trace);
                runtime.block_on(
                    async {
                        tracing::info!("before the request span");
                        async { tracing::warn!("inside") }
                            .instrument(tracing::info_span!("request", request_id = "api-gw-id"))
                            .await;
                    }
                    .instrument(invocation),
                );
            }
            tracing::info!("between invocations");
        });
        assert_eq!(lines.len(), 5, "{lines:?}");
        for line in &lines[..2] {
            assert_eq!(line["aws_request_id"], "req-1");
            assert_eq!(line["trace_id"], "Root=1-a-b");
            assert!(line.get("requestId").is_none() && line.get("xrayTraceId").is_none());
        }
        // Another test of this process may have opened the first invocation span.
        let first_cold = lines[0]["cold_start"].as_bool().expect("cold_start");
        assert_eq!(lines[1]["cold_start"], first_cold);
        assert_eq!(lines[0].get("request_id"), None);
        assert_eq!(lines[1]["request_id"], "api-gw-id", "a span's fields are on the lines inside it");
        for line in &lines[2..4] {
            assert_eq!((line["aws_request_id"].as_str(), line["cold_start"].as_bool()), (Some("req-2"), Some(false)));
        }
        assert_eq!(lines[3]["request_id"], "api-gw-id");
        assert!(lines[4].get("aws_request_id").is_none() && lines[4].get("cold_start").is_none());
    }

    #[test]
    fn fields_recorded_later_on_a_span_show_on_later_lines() {
        let lines = capture(|| {
            let span = tracing::info_span!("job", origin = tracing::field::Empty);
            let _entered = span.enter();
            tracing::info!("first");
            span.record("origin", "req-9");
            tracing::info!("second");
            tracing::info!(origin = "its own", "third");
        });
        assert_eq!(lines[0].get("origin"), None);
        assert_eq!(lines[1]["origin"], "req-9");
        assert_eq!(lines[2]["origin"], "its own", "the event's own field wins");
    }
}

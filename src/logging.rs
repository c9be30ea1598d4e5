//! Logging in the formats containerd's shim and conmon read: with
//! `--log-format json`, one object a line with `level`, `msg` and `time`
//! (logrus style, as runc writes); with `text`, `time=".." level=.. msg=".."`.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct RuncFormat(Format);

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.extra
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.extra
                .push((field.name().to_string(), value.to_string()));
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S, N> FormatEvent<S, N> for RuncFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = level_name(event.metadata().level());
        let time = crate::timefmt::now();
        match self.0 {
            Format::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("level".into(), level.into());
                obj.insert("msg".into(), f.msg.into());
                obj.insert("time".into(), time.into());
                for (k, v) in f.extra {
                    obj.insert(k, v.into());
                }
                writeln!(w, "{}", serde_json::Value::Object(obj))
            }
            Format::Text => {
                write!(w, "time={time:?} level={level} msg={:?}", f.msg)?;
                for (k, v) in f.extra {
                    write!(w, " {k}={v:?}")?;
                }
                writeln!(w)
            }
        }
    }
}

/// Install the global logger. Returns whether log lines go to a file (so
/// the CLI knows to also print its final error on stderr).
pub fn init(file: Option<&Path>, format: Format, debug: bool) -> std::io::Result<bool> {
    let level = if debug { Level::DEBUG } else { Level::WARN };
    let builder = tracing_subscriber::fmt()
        .event_format(RuncFormat(format))
        .with_max_level(level);
    let to_file = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let _ = builder.with_writer(Mutex::new(f)).try_init();
            true
        }
        None => {
            let _ = builder.with_writer(std::io::stderr).try_init();
            false
        }
    };
    Ok(to_file)
}

//! Logging in the formats containerd's shim and conmon read: with
//! `--log-format json`, one object a line with `level`, `msg` and `time`
//! (logrus style, as runc writes); with `text`, `time=".." level=.. msg=".."`.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The global subscriber: formats each event as runc does and writes it
/// whole. cella has no spans, so no span registry (tracing-subscriber's
/// allocated 32 KiB at every start for one).
struct RuncLogger {
    format: Format,
    max: Level,
    file: Option<Mutex<std::fs::File>>,
}

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

impl RuncLogger {
    fn line(&self, event: &Event<'_>) -> String {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = level_name(event.metadata().level());
        let time = crate::timefmt::now();
        match self.format {
            Format::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("level".into(), level.into());
                obj.insert("msg".into(), f.msg.into());
                obj.insert("time".into(), time.into());
                for (k, v) in f.extra {
                    obj.insert(k, v.into());
                }
                format!("{}\n", serde_json::Value::Object(obj))
            }
            Format::Text => {
                let mut s = format!("time={time:?} level={level} msg={:?}", f.msg);
                for (k, v) in f.extra {
                    s.push_str(&format!(" {k}={v:?}"));
                }
                s.push('\n');
                s
            }
        }
    }
}

impl Subscriber for RuncLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let line = self.line(event);
        // One write per line, so lines from several processes appending
        // to one log file never interleave.
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Install the global logger. Returns whether log lines go to a file (so
/// the CLI knows to also print its final error on stderr).
pub fn init(file: Option<&Path>, format: Format, debug: bool) -> std::io::Result<bool> {
    let max = if debug { Level::DEBUG } else { Level::WARN };
    let file = match file {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        )),
        None => None,
    };
    let to_file = file.is_some();
    let _ = tracing::subscriber::set_global_default(RuncLogger { format, max, file });
    Ok(to_file)
}

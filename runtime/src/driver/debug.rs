//! The `debug` driver: records requests and runs nothing.

use super::{Completed, Driver, DriverError, EnvValue, Request, RunLimits};
use std::sync::Mutex;

/// A request as the debug driver recorded it: secrets replaced by their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Program.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Environment, secrets shown as `<credential NAME>`.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub workdir: String,
    /// Image, if any.
    pub image: Option<String>,
    /// Files placed for it: `SOURCE at TARGET` (contents never shown).
    pub files: Vec<String>,
}

/// Records every request, prints it when asked, and answers with a fixed
/// result (exit 0 and no output unless configured).
#[derive(Default)]
pub struct DebugDriver {
    recorded: Mutex<Vec<Recorded>>,
    reply: Mutex<Completed>,
    print: bool,
}

impl DebugDriver {
    /// A debug driver that prints each request to stderr.
    pub fn printing() -> Self {
        DebugDriver {
            print: true,
            ..Default::default()
        }
    }

    /// Answer every request with `reply` from now on.
    pub fn reply_with(&self, reply: Completed) {
        *self.reply.lock().unwrap_or_else(|e| e.into_inner()) = reply;
    }

    /// The requests recorded so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Driver for DebugDriver {
    fn name(&self) -> &'static str {
        "debug"
    }

    fn run(&self, request: &Request, _limits: RunLimits) -> Result<Completed, DriverError> {
        let rec = Recorded {
            program: request.program.clone(),
            args: request.args.clone(),
            env: request
                .env
                .iter()
                .map(|(k, v)| {
                    let shown = match v {
                        EnvValue::Text(t) => t.clone(),
                        EnvValue::Secret { name, .. } => format!("<credential {name}>"),
                    };
                    (k.clone(), shown)
                })
                .collect(),
            workdir: request.workdir.display().to_string(),
            image: request.image.clone(),
            files: request
                .files
                .iter()
                .map(|f| format!("{} at {}", f.source, f.target))
                .collect(),
        };
        if self.print {
            // One write: stderr is unbuffered, and `{:?}` straight to it
            // is a write per field (about forty system calls a request).
            let line = format!("debug driver: would run {rec:?}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        }
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec);
        Ok(self.reply.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

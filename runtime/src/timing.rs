//! Where a command's wall time goes, for profiling the fixed cost of a
//! command (`docs/performance.md`). With `WASMIX_TIMINGS=1` (any value but
//! empty or `0`) each [`mark`]
//! prints the time since the process started and since the previous mark
//! to stderr; otherwise a mark is one relaxed atomic load.
//!
//! Hand-written rather than `tracing`: the whole need is a handful of
//! timestamps, and a subscriber stack would add to every cold build.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// 0: not yet read from the environment, 1: off, 2: on.
static ENABLED: AtomicU8 = AtomicU8::new(0);
static LAST: Mutex<Option<(Instant, Instant)>> = Mutex::new(None);

fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        0 => {
            // Any value but empty or `0` turns it on, so `=true` is not
            // silently ignored.
            let on = std::env::var_os("WASMIX_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0");
            ENABLED.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        v => v == 2,
    }
}

/// Record that `phase` just ended.
pub fn mark(phase: &str) {
    if !enabled() {
        return;
    }
    let now = Instant::now();
    let Ok(mut last) = LAST.lock() else { return };
    let (start, previous) = last.get_or_insert((now, now));
    eprintln!(
        "timing: {phase:<28} +{:>7.2} ms  (at {:>7.2} ms)",
        now.duration_since(*previous).as_secs_f64() * 1e3,
        now.duration_since(*start).as_secs_f64() * 1e3
    );
    *previous = now;
}

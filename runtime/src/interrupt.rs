//! Ctrl-C as a request to stop, not an exit: whoever watches the signal
//! calls [`request`]; the sandbox traps the running step at its next epoch
//! tick, drivers stop their command, and the run loop records the run as
//! interrupted and returns, so nothing is left half-written.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Ask the current run to stop.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// True once [`request`] was called in this process.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

//! Ctrl-C as a request to stop, not an exit: [`watch`] (or a driver's own
//! watcher) calls [`request`]; the sandbox traps the running step at its
//! next epoch tick, drivers stop their command, and the run loop records the
//! run as interrupted and returns, so nothing is left half-written and state
//! files leave the bundle directory. A second Ctrl-C exits at once.

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

/// Turn Ctrl-C into [`request`] for this process, from a thread of its own.
/// Called once by the CLI before an action; if the thread cannot start,
/// Ctrl-C keeps its default meaning.
pub fn watch() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let watcher = || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            request();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted again: exiting now");
                std::process::exit(130);
            }
        });
    };
    let _ = std::thread::Builder::new()
        .name("wasmix-interrupt".into())
        .spawn(watcher);
}

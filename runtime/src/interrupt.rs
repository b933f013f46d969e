//! Ctrl-C as a request to stop, not an exit: [`watch`] (or a driver's own
//! watcher) calls [`request`]; the sandbox traps the running step at its
//! next epoch tick, drivers stop their command, and the run loop records the
//! run as interrupted and returns, so nothing is left half-written and state
//! files leave the bundle directory. A second Ctrl-C exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Run once Ctrl-C is pressed, on the watcher's thread (a driver removes its
/// containers here).
type Hook = Box<dyn Fn() + Send>;

static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

/// Run `hook` when Ctrl-C is pressed, after the run was asked to stop.
pub fn on_interrupt(hook: impl Fn() + Send + 'static) {
    if let Ok(mut hooks) = HOOKS.lock() {
        hooks.push(Box::new(hook));
    }
}

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Ask the current run to stop.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// True once [`request`] was called in this process.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Turn Ctrl-C into [`request`] (then the [`on_interrupt`] hooks) for this
/// process, from a thread of its own. Called by the CLI before an action and
/// by the docker driver; started once. If the thread cannot start, Ctrl-C
/// keeps its default meaning.
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
        if rt.block_on(tokio::signal::ctrl_c()).is_err() {
            return;
        }
        request();
        // Outside the runtime: a hook may start one of its own.
        if let Ok(hooks) = HOOKS.lock() {
            for hook in hooks.iter() {
                hook();
            }
        }
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            eprintln!("interrupted again: exiting now");
            std::process::exit(130);
        }
    };
    let _ = std::thread::Builder::new()
        .name("wasmix-interrupt".into())
        .spawn(watcher);
}

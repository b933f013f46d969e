//! Logging to the operator. The host masks every secret the step can see
//! before a line is shown or stored, so logging a value is never a leak, but
//! it is still noise: log what helps someone debug a failed install.

use crate::bindings::wasmix::mixin::log::{emit, Level};

/// Log at debug level.
pub fn debug(message: &str) {
    emit(Level::Debug, message)
}

/// Log at info level.
pub fn info(message: &str) {
    emit(Level::Info, message)
}

/// Log at warn level.
pub fn warn(message: &str) {
    emit(Level::Warn, message)
}

/// Log at error level.
pub fn error(message: &str) {
    emit(Level::Error, message)
}

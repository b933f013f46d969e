//! Budgets: how much memory, time, output and driver work one step may use.
//!
//! [`Limits`] are the runtime's defaults; a manifest's `limits:` block (on a
//! mixin declaration or a step) becomes [`LimitOverrides`], applied on top.
//! Limits live on the policy side so the sandbox only ever reads them.

use super::{CapabilityKind, GrantBuilder, GrantError};
use crate::manifest::LimitSpec;
use std::time::Duration;

/// Per-step limits the sandbox enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory a mixin may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time for the whole step, commands included.
    pub deadline: Duration,
    /// Bytes kept of the mixin's stdout/stderr and of each command's.
    pub output_cap: usize,
    /// Driver requests one step may make.
    pub max_driver_calls: u32,
    /// Total bytes of a step's outputs.
    pub max_output_bytes: usize,
    /// Log lines kept per step.
    pub max_log_lines: usize,
    /// Bytes of log lines kept per step.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            deadline: Duration::from_secs(600),
            output_cap: 4 << 20,
            max_driver_calls: 64,
            max_output_bytes: 4 << 20,
            max_log_lines: 10_000,
            max_log_bytes: 1 << 20,
        }
    }
}

/// Limits written in the manifest; unset fields keep the runtime's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Linear memory in bytes.
    pub memory_bytes: Option<usize>,
    /// Wall-clock deadline of the step.
    pub deadline: Option<Duration>,
    /// Cap on captured stdout/stderr, per stream.
    pub output_cap: Option<usize>,
    /// Cap on the total bytes of the step's outputs.
    pub max_output_bytes: Option<usize>,
    /// Driver requests the step may make.
    pub max_driver_calls: Option<u32>,
    /// Bytes of log lines the step may emit.
    pub max_log_bytes: Option<usize>,
}

impl LimitOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            deadline: self.deadline.unwrap_or(base.deadline),
            output_cap: self.output_cap.unwrap_or(base.output_cap),
            max_output_bytes: self.max_output_bytes.unwrap_or(base.max_output_bytes),
            max_driver_calls: self.max_driver_calls.unwrap_or(base.max_driver_calls),
            max_log_lines: base.max_log_lines,
            max_log_bytes: self.max_log_bytes.unwrap_or(base.max_log_bytes),
        }
    }
}

/// Fold a `limits:` block into the grant being built; a later block (the
/// step's) overrides an earlier one (the mixin declaration's) field by field.
pub(super) fn add(b: &mut GrantBuilder<'_>, spec: &LimitSpec) -> Result<(), GrantError> {
    let mut o = b.grant.limits;
    if let Some(m) = &spec.memory {
        o.memory_bytes = Some(parse_size(m).map_err(|e| b.error(".memory", e))?);
        b.note(CapabilityKind::Limit, format!("memory {m}"));
    }
    if let Some(d) = &spec.deadline {
        o.deadline = Some(parse_duration(d).map_err(|e| b.error(".deadline", e))?);
        b.note(CapabilityKind::Limit, format!("deadline {d}"));
    }
    if let Some(c) = &spec.output {
        o.output_cap = Some(parse_size(c).map_err(|e| b.error(".output", e))?);
        b.note(CapabilityKind::Limit, format!("output {c}"));
    }
    if let Some(c) = &spec.outputs {
        o.max_output_bytes = Some(parse_size(c).map_err(|e| b.error(".outputs", e))?);
        b.note(CapabilityKind::Limit, format!("outputs {c}"));
    }
    if let Some(l) = &spec.logs {
        o.max_log_bytes = Some(parse_size(l).map_err(|e| b.error(".logs", e))?);
        b.note(CapabilityKind::Limit, format!("logs {l}"));
    }
    if let Some(r) = spec.requests {
        o.max_driver_calls = Some(r);
        b.note(CapabilityKind::Limit, format!("requests {r}"));
    }
    b.grant.limits = o;
    Ok(())
}

/// Parse a size: bytes, or with `Ki`, `Mi`, `Gi` (also `K`, `M`, `G` as powers of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (num, mult) = [
        ("Gi", 1usize << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ]
    .iter()
    .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|n| (n, *m)))
    .unwrap_or((t, 1));
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size {text:?}: write bytes or a number with Ki, Mi or Gi"))
}

/// The longest duration a manifest may write: a week.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parse a duration: `500ms`, `30s`, `5m`, `1h`, at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("invalid duration {text:?}: write for example 500ms, 30s, 5m or 1h");
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| t.split_at(i))
        .ok_or_else(bad)?;
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    // A deadline is added to the clock: keep it far from overflowing it.
    if d > MAX_DURATION {
        return Err(format!(
            "duration {text:?} is longer than the most wasmix accepts, {}h",
            MAX_DURATION.as_secs() / 3600
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64Mi"), Ok(64 << 20));
        assert_eq!(parse_size(" 2 Gi "), Ok(2 << 30));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size(&format!("{}Gi", usize::MAX)).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration(&format!("{}h", u64::MAX)).is_err());
        assert!(parse_duration(&format!("{}s", u64::MAX)).is_err());
        assert_eq!(parse_duration("168h"), Ok(MAX_DURATION));
        assert!(parse_duration("169h").is_err());
    }

    #[test]
    fn overrides_replace_only_what_they_set() {
        let base = Limits::default();
        let o = LimitOverrides {
            memory_bytes: Some(1 << 20),
            max_driver_calls: Some(3),
            ..Default::default()
        };
        let l = o.apply(base);
        assert_eq!(l.memory_bytes, 1 << 20);
        assert_eq!(l.max_driver_calls, 3);
        assert_eq!(l.deadline, base.deadline);
        assert_eq!(l.output_cap, base.output_cap);
        assert_eq!(l.max_log_lines, base.max_log_lines);
    }
}

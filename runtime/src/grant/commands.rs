//! Commands: the programs the host driver may start for a step, by the name
//! the mixin asks for. Nothing else starts.

use super::{CapabilityKind, Grant, GrantBuilder, GrantError};

/// The `commands:` entry of a `grants:` block.
pub(super) fn add(b: &mut GrantBuilder<'_>, commands: &[String]) -> Result<(), GrantError> {
    for c in commands {
        if c.is_empty() {
            return Err(b.error(".commands", "empty command name".into()));
        }
        if b.grant.commands.insert(c.clone()) {
            b.note(CapabilityKind::Command, c.clone());
        }
    }
    Ok(())
}

impl Grant {
    /// Whether the host driver may start `program` for this step: only a
    /// program granted by exactly that name.
    pub fn allows_command(&self, program: &str) -> Result<(), String> {
        if self.commands.contains(program) {
            Ok(())
        } else {
            Err(format!(
                "command {program:?} is not granted to this step; grant it with `grants: {{commands: [{program}]}}`"
            ))
        }
    }
}

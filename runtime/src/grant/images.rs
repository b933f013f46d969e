//! Images: the container images a driver may start for a step.

use super::{CapabilityKind, Grant, GrantBuilder, GrantError};

/// The `images:` entry of a `grants:` block.
pub(super) fn add(b: &mut GrantBuilder<'_>, images: &[String]) -> Result<(), GrantError> {
    for (i, image) in images.iter().enumerate() {
        if image.is_empty() || image.contains(char::is_whitespace) {
            return Err(b.error(
                &format!(".images[{i}]"),
                format!("invalid image reference {image:?}"),
            ));
        }
        if b.grant.images.insert(image.clone()) {
            b.note(CapabilityKind::Image, image.clone());
        }
    }
    Ok(())
}

impl Grant {
    /// Whether a driver may start `image` for this step: a grant names it
    /// exactly, or names its repository without a tag or digest (which then
    /// allows every tag and digest of that repository).
    pub fn allows_image(&self, image: &str) -> Result<(), String> {
        if image_allowed(&self.images, image) {
            Ok(())
        } else {
            Err(format!(
                "container image {image:?} is not granted to this step; grant it with `grants: {{images: [{image}]}}`"
            ))
        }
    }
}

fn image_allowed(granted: &std::collections::BTreeSet<String>, image: &str) -> bool {
    if granted.contains(image) {
        return true;
    }
    granted.contains(repository(image))
}

/// `image` without its tag or digest. A `:` after the last `/` is a tag; one
/// before it belongs to a registry port (`localhost:5000/app`).
fn repository(image: &str) -> &str {
    match image.split_once('@') {
        Some((r, _)) => r,
        None => match image.rsplit_once(':') {
            Some((r, tag)) if !tag.contains('/') => r,
            _ => image,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn granted(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_reference() {
        let g = granted(&["alpine:3.20"]);
        assert!(image_allowed(&g, "alpine:3.20"));
        assert!(!image_allowed(&g, "alpine:3.21"));
        assert!(!image_allowed(&g, "alpine"));
    }

    #[test]
    fn repository_allows_every_tag_and_digest() {
        let g = granted(&["localhost:5000/tools/helm"]);
        assert!(image_allowed(&g, "localhost:5000/tools/helm:3"));
        assert!(image_allowed(&g, "localhost:5000/tools/helm@sha256:abcd"));
        assert!(image_allowed(&g, "localhost:5000/tools/helm"));
        assert!(!image_allowed(&g, "localhost:5000/tools/helm2:3"));
        assert!(!image_allowed(&g, "localhost:5000/tools"));
        assert!(!image_allowed(&g, "localhost:5001/tools/helm:3"));
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        assert_eq!(repository("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(repository("localhost:5000/app:1"), "localhost:5000/app");
        assert_eq!(repository("app@sha256:00"), "app");
        // A granted host name is not a repository of every image on it.
        assert!(!image_allowed(
            &granted(&["localhost"]),
            "localhost:5000/app"
        ));
    }
}

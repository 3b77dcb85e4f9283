//! Which images a node runs: any, only those matching the person's patterns,
//! and optionally only images pinned by digest (`@sha256:`).
//!
//! The agent refuses a task whose image its policy refuses, before any pull;
//! the hub does not offer that node such a task. Both ask
//! [`ImagePolicy::refusal`], so they cannot disagree.
//!
//! # Names as Docker reads them
//!
//! An image name and a pattern are both compared in Docker's normalized form
//! (as `docker pull` reads a name, after the distribution/reference rules):
//! - the first path segment is a registry when it holds a `.` or a `:`, is
//!   `localhost`, or has an upper-case letter; otherwise the registry is
//!   `docker.io` (`index.docker.io` is the same registry);
//! - on `docker.io`, a one-segment name is under `library/`;
//! - a name without tag or digest means the tag `latest`.
//!
//! So `busybox` is `docker.io/library/busybox:latest`, and
//! `nvidia/cuda:12.4` is `docker.io/nvidia/cuda:12.4`.
//!
//! # Patterns
//!
//! A pattern is a name in which `*` matches any text within one path segment
//! and a segment `**` matches any number of segments. A pattern whose first
//! segment holds a `*` is taken to name the registry too (`**` matches every
//! image, `*.example.com/**` every image of those registries). A pattern
//! without tag or digest matches every tag and digest of the repositories it
//! names; one with a tag (`*` allowed in it) matches only those tags, one with
//! a digest only that digest.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Docker Hub's registry as normalized names write it.
pub const DOCKER_HUB: &str = "docker.io";

/// The most patterns a node may send.
pub const MAX_PATTERNS: usize = 64;

/// The longest pattern a node may send.
pub const MAX_PATTERN_LEN: usize = 512;

/// What the wire takes of a pattern: printable ASCII without spaces (the
/// check beside it is [`ImagePolicy::wire_problem`]).
pub const PATTERN: &str = "^[!-~]+$";

/// The schema of `allowed`: what [`ImagePolicy::wire_problem`] checks.
fn patterns_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "maxItems": MAX_PATTERNS,
        "items": {"type": "string", "pattern": PATTERN, "maxLength": MAX_PATTERN_LEN},
        "description": "Image patterns the node takes (`*` within a path segment, `**` across): printable ASCII without spaces"
    })
}

/// A node's rule for the images it runs. The default (no patterns, not
/// pinned-only) takes any image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagePolicy {
    /// Patterns as the person wrote them (`--allowed-images`); empty: any image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "patterns_schema")]
    pub allowed: Vec<String>,
    /// Only images pinned by digest, `name@sha256:<64 hex>` (`--pinned-images-only`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned_only: bool,
}

/// An image reference in Docker's normalized form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// `registry/path`, e.g. `docker.io/library/busybox`.
    pub repository: String,
    /// The tag: as written, `latest` when neither tag nor digest was written,
    /// `None` for a name written with a digest only.
    pub tag: Option<String>,
    /// The digest as written after `@`, e.g. `sha256:…`.
    pub digest: Option<String>,
}

/// Why a node does not take an image: a sentence naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image {image} is not allowed here: {rule}")]
pub struct ImageRefusal {
    /// The image, normalized when it could be read.
    pub image: String,
    /// The rule it breaks, e.g. `this node takes only images matching registry.example.com/**`.
    pub rule: String,
}

/// A pattern or image name that cannot be read, with what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

impl ImageName {
    /// Reads `name` as `docker pull` does and normalizes it.
    pub fn parse(name: &str) -> Result<ImageName, NameError> {
        let (repository, tag, digest) = split(name)?;
        if repository.contains('*') {
            return Err(NameError(format!(
                "{name:?} is not an image name: `*` belongs in patterns only"
            )));
        }
        let (repository, tag, digest) = (normalize_repository(repository), tag, digest);
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(ImageName {
            repository,
            tag,
            digest: digest.map(str::to_owned),
        })
    }

    /// Whether it is pinned by a sha256 digest (`@sha256:<64 lowercase hex>`).
    pub fn is_pinned(&self) -> bool {
        self.digest
            .as_deref()
            .and_then(|d| d.strip_prefix("sha256:"))
            .is_some_and(crate::is_sha256_hex)
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// One allowed-images pattern, read and normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Pattern {
    fn parse(pattern: &str) -> Result<Pattern, NameError> {
        let (repository, tag, digest) = split(pattern)?;
        let first = repository.split('/').next().unwrap_or_default();
        let repository = if first.contains('*') {
            repository.to_owned()
        } else {
            normalize_repository(repository)
        };
        if let Some(digest) = digest
            && !digest
                .strip_prefix("sha256:")
                .is_some_and(crate::is_sha256_hex)
        {
            return Err(NameError(format!(
                "pattern {pattern:?}: a digest is written @sha256: and 64 lower-case hex digits"
            )));
        }
        Ok(Pattern {
            repository,
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    fn matches(&self, image: &ImageName) -> bool {
        let segments: Vec<&str> = image.repository.split('/').collect();
        let pattern: Vec<&str> = self.repository.split('/').collect();
        if !segments_match(&pattern, &segments) {
            return false;
        }
        if let Some(tag) = &self.tag
            && !image.tag.as_deref().is_some_and(|t| glob(tag, t))
        {
            return false;
        }
        if let Some(digest) = &self.digest
            && image.digest.as_deref() != Some(digest.as_str())
        {
            return false;
        }
        true
    }
}

impl ImagePolicy {
    /// Whether it takes any image (nothing to send, nothing to check).
    pub fn is_open(&self) -> bool {
        self.allowed.is_empty() && !self.pinned_only
    }

    /// Checks every pattern can be read; the error names the first that cannot.
    pub fn validate(&self) -> Result<(), NameError> {
        for pattern in &self.allowed {
            if pattern.trim().is_empty() {
                return Err(NameError(
                    "an allowed-images pattern is empty; write e.g. registry.example.com/**".into(),
                ));
            }
            Pattern::parse(pattern)?;
        }
        Ok(())
    }

    /// What the hub refuses of a policy a node sent, as its document states
    /// it ([`PATTERN`], [`MAX_PATTERNS`], [`MAX_PATTERN_LEN`]). A pattern that
    /// passes but cannot be read ([`ImagePolicy::validate`], which the agent
    /// runs when it starts) matches nothing.
    pub fn wire_problem(&self) -> Option<String> {
        if self.allowed.len() > MAX_PATTERNS {
            return Some(format!("at most {MAX_PATTERNS} patterns"));
        }
        self.allowed.iter().find_map(|pattern| {
            if pattern.len() > MAX_PATTERN_LEN {
                Some(format!("a pattern has more than {MAX_PATTERN_LEN} characters"))
            } else if pattern.is_empty() || !pattern.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
                Some(format!(
                    "pattern {pattern:?} must be printable ASCII without spaces, e.g. registry.example.com/**"
                ))
            } else {
                None
            }
        })
    }

    /// Why the node does not take `image`, or `None` when it does.
    pub fn refusal(&self, image: &str) -> Option<ImageRefusal> {
        if self.is_open() {
            return None;
        }
        let name = match ImageName::parse(image) {
            Ok(name) => name,
            Err(problem) => {
                return Some(ImageRefusal {
                    image: image.to_owned(),
                    rule: format!("this node checks the images it runs, and {problem}"),
                });
            }
        };
        if self.pinned_only && !name.is_pinned() {
            return Some(ImageRefusal {
                image: name.to_string(),
                rule: "this node takes only images pinned by digest (write the image as \
                       name@sha256:<64 hex digits>)"
                    .into(),
            });
        }
        if self.allowed.is_empty() {
            return None;
        }
        // A pattern that cannot be read matches nothing (the agent refuses such
        // a policy when it starts; a hub keeps running whatever a node sent).
        let allowed = self
            .allowed
            .iter()
            .filter_map(|p| Pattern::parse(p).ok())
            .any(|pattern| pattern.matches(&name));
        (!allowed).then(|| ImageRefusal {
            image: name.to_string(),
            rule: format!(
                "this node takes only images matching {}",
                or_list(&self.allowed)
            ),
        })
    }

    /// The first refusal among a job's images: the task's and its services'.
    pub fn refusal_for_job(&self, spec: &crate::JobSpec) -> Option<ImageRefusal> {
        if self.is_open() {
            return None;
        }
        spec.image
            .iter()
            .map(String::as_str)
            .chain(spec.services.iter().map(|s| s.image.as_str()))
            .find_map(|image| self.refusal(image))
    }

    /// The policy in a few words, as node views show it: `any image`,
    /// `only registry.example.com/**, pinned by digest`.
    pub fn summary(&self) -> String {
        match (self.allowed.is_empty(), self.pinned_only) {
            (true, false) => "any image".into(),
            (true, true) => "only images pinned by digest".into(),
            (false, pinned) => format!(
                "only {}{}",
                self.allowed.join(", "),
                if pinned { ", pinned by digest" } else { "" }
            ),
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Splits `name[:tag][@digest]` into its three parts, checking the characters.
fn split(name: &str) -> Result<(&str, Option<&str>, Option<&str>), NameError> {
    let bad = |why: &str| NameError(format!("{name:?} is not an image name: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(bad(&format!("it holds {c:?}")));
    }
    let (rest, digest) = match name.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (name, None),
    };
    if digest.is_some_and(|d| d.is_empty() || !d.contains(':')) {
        return Err(bad("a digest is written @sha256:<64 hex digits>"));
    }
    // A tag follows the last `:` after the last `/` (a `:` before a `/` is a registry's port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tag.is_some_and(str::is_empty) {
        return Err(bad("nothing follows the `:` of the tag"));
    }
    if repository.is_empty() || repository.split('/').any(str::is_empty) {
        return Err(bad("a path segment is empty"));
    }
    let path = repository
        .split_once('/')
        .map_or(repository, |(first, path)| {
            if is_registry(first) { path } else { repository }
        });
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(bad("repository names are lower-case"));
    }
    Ok((repository, tag, digest))
}

/// Whether a name's first segment names a registry, as Docker decides it.
fn is_registry(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

/// `busybox` → `docker.io/library/busybox`; `index.docker.io/x/y` → `docker.io/x/y`.
fn normalize_repository(repository: &str) -> String {
    let (registry, path) = match repository.split_once('/') {
        Some((first, path)) if is_registry(first) => (first, path),
        _ => (DOCKER_HUB, repository),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB
    } else {
        registry
    };
    if registry == DOCKER_HUB && !path.contains('/') {
        format!("{DOCKER_HUB}/library/{path}")
    } else {
        format!("{registry}/{path}")
    }
}

/// Whether pattern segments (`**` matching any number of segments) match a name's.
fn segments_match(pattern: &[&str], name: &[&str]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((&"**", rest)) => (0..=name.len()).any(|skip| segments_match(rest, &name[skip..])),
        Some((first, rest)) => name
            .split_first()
            .is_some_and(|(segment, tail)| glob(first, segment) && segments_match(rest, tail)),
    }
}

/// Whether `text` (one segment) matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let Some((head, tail)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(rest) = text.strip_prefix(head) else {
        return false;
    };
    let tail = tail.trim_start_matches('*');
    (0..=rest.len())
        .filter(|&i| rest.is_char_boundary(i))
        .any(|i| glob(tail, &rest[i..]))
}

#[cfg(test)]
mod tests;

//! "Which images may run here": the node's image policy as the wizard and
//! Settings choose it (any image, only images matching these patterns, or
//! only images pinned by digest) and `desktop.json` keeps it.
//!
//! The choice fills the agent's `image_policy`
//! ([`gantry_protocol::image_policy::ImagePolicy`]) where the environment and
//! agent.toml leave the default; the agent tells the hub, which then offers
//! this computer only tasks whose images it takes.

use gantry_protocol::image_policy::ImagePolicy;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The three choices the screen offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ImageRule {
    /// Any image.
    #[default]
    Any,
    /// Only images matching `patterns`.
    Only,
    /// Only images pinned by digest (`name@sha256:…`).
    Pinned,
}

/// The person's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct ImageChoice {
    /// Which rule.
    pub rule: ImageRule,
    /// The patterns of `only`, e.g. `registry.example.com/**`; kept while
    /// another rule is chosen, so switching back does not lose them.
    pub patterns: Vec<String>,
}

impl ImageChoice {
    /// The choice that gives `policy`. A policy the screen cannot say (patterns
    /// and pinning both, from agent.toml) shows as `only`; such a field is
    /// locked on the screen anyway.
    pub fn of(policy: &ImagePolicy) -> ImageChoice {
        let rule = match (policy.allowed.is_empty(), policy.pinned_only) {
            (true, false) => ImageRule::Any,
            (true, true) => ImageRule::Pinned,
            (false, _) => ImageRule::Only,
        };
        ImageChoice {
            rule,
            patterns: policy.allowed.clone(),
        }
    }

    /// The agent's policy, or the sentence the screen shows for a pattern
    /// that cannot be read (or `only` without any pattern).
    pub fn policy(&self) -> Result<ImagePolicy, String> {
        let patterns: Vec<String> = self
            .patterns
            .iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let policy = match self.rule {
            ImageRule::Any => ImagePolicy::default(),
            ImageRule::Pinned => ImagePolicy {
                allowed: Vec::new(),
                pinned_only: true,
            },
            ImageRule::Only if patterns.is_empty() => {
                return Err(
                    "Give at least one pattern, e.g. registry.example.com/** or nvidia/*".into(),
                );
            }
            ImageRule::Only => ImagePolicy {
                allowed: patterns,
                pinned_only: false,
            },
        };
        policy.validate().map_err(|e| e.to_string())?;
        Ok(policy)
    }

    /// The choice as kept: its patterns trimmed, blank ones dropped.
    pub fn checked(self) -> Result<ImageChoice, String> {
        let policy = self.policy()?;
        Ok(ImageChoice {
            rule: self.rule,
            patterns: if self.rule == ImageRule::Only {
                policy.allowed
            } else {
                self.patterns
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_choice_gives_its_policy_and_back() {
        let only = ImageChoice {
            rule: ImageRule::Only,
            patterns: vec![" registry.example.com/** ".into(), "".into()],
        };
        let policy = only.policy().unwrap();
        assert_eq!(policy.allowed, ["registry.example.com/**"]);
        assert_eq!(ImageChoice::of(&policy).rule, ImageRule::Only);
        let pinned = ImageChoice {
            rule: ImageRule::Pinned,
            patterns: vec!["kept/for-later".into()],
        };
        assert!(pinned.policy().unwrap().pinned_only);
        assert!(ImageChoice::default().policy().unwrap().is_open());
        assert_eq!(
            ImageChoice::of(&ImagePolicy::default()),
            ImageChoice::default()
        );
    }

    #[test]
    fn bad_patterns_say_what_to_write() {
        let empty = ImageChoice {
            rule: ImageRule::Only,
            patterns: vec![" ".into()],
        };
        assert!(empty.policy().unwrap_err().contains("at least one pattern"));
        let upper = ImageChoice {
            rule: ImageRule::Only,
            patterns: vec!["Team/X".into()],
        };
        assert!(upper.policy().unwrap_err().contains("lower-case"));
    }
}

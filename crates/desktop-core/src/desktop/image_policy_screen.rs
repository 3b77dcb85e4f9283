//! Saving "Which images may run here" from Settings or the wizard.

use std::sync::Arc;

use super::Desktop;
use crate::image_policy::ImageChoice;
use crate::view::UiError;

impl Desktop {
    /// Keeps the image policy and restarts the agent with it (running
    /// containers go on and are picked up again; the hub learns the policy at
    /// the register). A policy the environment or agent.toml fix is refused
    /// with where to change it.
    pub async fn save_image_policy(
        self: &Arc<Desktop>,
        choice: ImageChoice,
    ) -> Result<(), UiError> {
        let choice = choice
            .checked()
            .map_err(|message| UiError::new("bad_setting", message))?;
        let (_, locked) = crate::config::layered(&self.settings())
            .map_err(|e| UiError::new("config", format!("{e:#}")))?;
        if locked.iter().any(|l| l == "image_policy") {
            return Err(UiError::new(
                "bad_setting",
                "The environment or agent.toml sets which images run here; change it there \
                 (GANTRY_ALLOWED_IMAGES, or allowed_images in ~/.config/gantry/agent.toml)",
            ));
        }
        self.settings.update(|s| s.image_policy = Some(choice))?;
        if self.agent.get().is_some() {
            self.restart().await
        } else {
            Ok(())
        }
    }
}

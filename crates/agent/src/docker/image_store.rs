//! The engine's images as the disk budget sees them: an image's id, size
//! and tags, the images containers use, and removing one tag Gantry pulled
//! (never forced: an image a container uses, or another tag keeps, stays).

use std::collections::HashSet;

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveImageOptions};

use super::Engine;
use super::engine::classify;
use crate::executor::ExecError;

/// What the engine says of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// Its id (`sha256:…`).
    pub id: String,
    /// Its size on disk, unpacked, as `docker image ls` shows it.
    pub size: u64,
    /// The tags naming it (`name:tag`).
    pub tags: Vec<String>,
}

impl Engine {
    /// The image's id, size and tags; `None` when it is not on this machine.
    pub async fn image_facts(&self, image: &str) -> Result<Option<ImageFacts>, ExecError> {
        match tokio::time::timeout(self.call_timeout, self.docker.inspect_image(image)).await {
            Ok(Ok(inspect)) => Ok(Some(ImageFacts {
                id: inspect.id.unwrap_or_default(),
                size: inspect.size.unwrap_or(0).max(0) as u64,
                tags: inspect.repo_tags.unwrap_or_default(),
            })),
            Ok(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            })) => Ok(None),
            Ok(Err(e)) => Err(classify("look at the image", e)),
            Err(_) => Err(ExecError::Timeout(
                "Docker did not answer about the image".into(),
            )),
        }
    }

    /// The ids of the images any container uses, running or stopped: the
    /// engine would refuse to remove them, and a task may still need them.
    pub async fn images_in_use(&self) -> Result<HashSet<String>, ExecError> {
        let options = ListContainersOptionsBuilder::new().all(true).build();
        let containers = self
            .call(
                "list the containers",
                self.docker.list_containers(Some(options)),
            )
            .await?;
        Ok(containers.into_iter().filter_map(|c| c.image_id).collect())
    }

    /// Removes the tag `image` (the image goes with its last tag). Never
    /// forced, so an image a container uses stays.
    pub async fn remove_image(&self, image: &str) -> Result<(), ExecError> {
        match tokio::time::timeout(
            self.call_timeout,
            self.docker
                .remove_image(image, None::<RemoveImageOptions>, None),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            })) => Ok(()),
            Ok(Err(e)) => Err(classify(&format!("remove the image {image}"), e)),
            Err(_) => Err(ExecError::Timeout(format!(
                "Docker did not answer while removing {image}"
            ))),
        }
    }
}

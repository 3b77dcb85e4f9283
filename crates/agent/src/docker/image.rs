//! Images: whether one is on this machine, and pulling it with the login
//! for its registry while reporting progress. Image references are split
//! here, and a pull's failure is told apart (refused login, missing image,
//! full disk) from the registry's words.

use std::collections::HashMap;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;
use gantry_protocol::wire::PullProgress;

use super::engine::classify;
use super::{Engine, RegistryLogin};
use crate::executor::ExecError;

impl Engine {
    /// Whether the image is on this machine.
    pub async fn has_image(&self, image: &str) -> Result<bool, ExecError> {
        match tokio::time::timeout(self.call_timeout, self.docker.inspect_image(image)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            })) => Ok(false),
            Ok(Err(e)) => Err(classify("look for the image", e)),
            Err(_) => Err(ExecError::Timeout(
                "Docker did not answer whether it has the image".into(),
            )),
        }
    }

    /// Pulls `image`, logging in where a login matches its registry, and
    /// reports progress (bytes over all layers) as it goes.
    pub async fn pull(
        &self,
        image: &str,
        logins: &[RegistryLogin],
        mut progress: impl FnMut(PullProgress),
    ) -> Result<(), ExecError> {
        let (name, tag) = split_reference(image);
        let mut options = CreateImageOptionsBuilder::new().from_image(name);
        if let Some(tag) = tag {
            options = options.tag(tag);
        }
        let registry = registry_of(image);
        let login = logins.iter().find(|l| l.registry == registry);
        let credentials = login.map(|l| DockerCredentials {
            username: Some(l.login.clone()),
            password: Some(l.password.clone()),
            serveraddress: Some(l.registry.clone()),
            ..Default::default()
        });
        let mut stream = self
            .docker
            .create_image(Some(options.build()), None, credentials);
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let mut last_report = tokio::time::Instant::now();
        loop {
            // A pull may take long, but each progress message must come within the call timeout.
            let item = match tokio::time::timeout(
                self.call_timeout.max(Duration::from_secs(60)),
                stream.next(),
            )
            .await
            {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(_) => {
                    return Err(ExecError::Timeout(format!(
                        "pulling {image} stalled: no progress for a while"
                    )));
                }
            };
            let info = item.map_err(|e| pull_error(image, login.is_some(), e))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(pull_error_message(image, login.is_some(), &detail));
            }
            if let (Some(id), Some(status)) = (info.id, info.status.as_deref()) {
                let entry = layers.entry(id).or_insert((0, 0));
                match (status, info.progress_detail) {
                    ("Downloading", Some(detail)) => {
                        entry.0 = detail.current.unwrap_or(0).max(0) as u64;
                        entry.1 = detail.total.unwrap_or(0).max(0) as u64;
                    }
                    ("Download complete" | "Pull complete" | "Already exists", _) => {
                        entry.0 = entry.1
                    }
                    _ => {}
                }
            }
            if last_report.elapsed() >= Duration::from_millis(250) {
                last_report = tokio::time::Instant::now();
                progress(sum(&layers));
            }
        }
        progress(sum(&layers));
        Ok(())
    }
}

fn sum(layers: &HashMap<String, (u64, u64)>) -> PullProgress {
    let (done, total) = layers
        .values()
        .fold((0, 0), |(d, t), (ld, lt)| (d + ld, t + lt));
    PullProgress { done, total }
}

/// Splits `registry:5000/name:tag` into name and tag; a digest reference has no tag.
/// Without a tag Docker would pull every tag, so `latest` is meant.
fn split_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => (
            &image[..last_slash + colon],
            Some(&image[last_slash + colon + 1..]),
        ),
        None => (image, Some("latest")),
    }
}

/// The registry an image comes from: its first path part when that names a
/// host (has a '.' or ':' or is localhost), else Docker Hub.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_owned()
        }
        _ => "docker.io".to_owned(),
    }
}

fn pull_error(image: &str, logged_in: bool, error: DockerError) -> ExecError {
    match error {
        DockerError::DockerResponseServerError { message, .. }
        | DockerError::DockerStreamError { error: message } => {
            pull_error_message(image, logged_in, &message)
        }
        other => classify(&format!("pull {image}"), other),
    }
}

fn pull_error_message(image: &str, logged_in: bool, message: &str) -> ExecError {
    let lower = message.to_ascii_lowercase();
    let registry = registry_of(image);
    if lower.contains("unauthorized")
        || lower.contains("authentication required")
        || has_status_code(&lower, "401")
    {
        if logged_in {
            ExecError::RegistryAuth(format!(
                "the registry {registry} refused the login for {image}: check DOCKER_LOGIN and DOCKER_PASSWORD ({message})"
            ))
        } else {
            ExecError::RegistryAuth(format!(
                "the registry {registry} wants a login for {image}: set DOCKER_REGISTRY, DOCKER_LOGIN and DOCKER_PASSWORD ({message})"
            ))
        }
    } else if lower.contains("not found")
        || lower.contains("manifest unknown")
        || lower.contains("does not exist")
        || lower.contains("pull access denied")
    {
        ExecError::ImageNotFound(format!(
            "image {image} was not found: check its name and tag ({message})"
        ))
    } else if lower.contains("no space left on device") {
        ExecError::DiskFull(format!(
            "the disk is full while pulling {image}: free space for Docker"
        ))
    } else {
        ExecError::Other(format!("pulling {image} failed: {message}"))
    }
}

/// Whether `message` holds the HTTP status `code` as a number of its own:
/// not inside a longer number, and not a port (`127.0.0.1:40187` holds
/// "401" too, which once made a missing image read as a refused login).
fn has_status_code(message: &str, code: &str) -> bool {
    message.match_indices(code).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == ':' || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_or_a_longer_number_is_not_a_401() {
        let missing = "manifest for 127.0.0.1:40187/gantry-test/nope:1 not found: manifest unknown";
        assert!(matches!(
            pull_error_message("127.0.0.1:40187/gantry-test/nope:1", true, missing),
            ExecError::ImageNotFound(_)
        ));
        assert!(!has_status_code("pulling from 10.0.0.1:401/x", "401"));
        assert!(!has_status_code("layer 14012 of 20", "401"));
        assert!(has_status_code(
            "unexpected status 401 from registry",
            "401"
        ));
        assert!(has_status_code("http status: 401", "401"));
        assert!(matches!(
            pull_error_message(
                "r.example:4010/x:1",
                true,
                "received 401 from r.example:4010"
            ),
            ExecError::RegistryAuth(_)
        ));
    }

    #[test]
    fn references() {
        assert_eq!(split_reference("busybox"), ("busybox", Some("latest")));
        assert_eq!(split_reference("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_reference("localhost:5000/x/y:2"),
            ("localhost:5000/x/y", Some("2"))
        );
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x", Some("latest"))
        );
        assert_eq!(split_reference("x@sha256:abc"), ("x@sha256:abc", None));
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
        assert_eq!(registry_of("ghcr.io/a/b:1"), "ghcr.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("busybox"), "docker.io");
    }
}

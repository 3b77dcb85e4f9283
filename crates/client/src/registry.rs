//! What an image weighs before it is pulled: its manifest read from its
//! registry (the Docker Registry HTTP API v2, as `docker pull` reads it),
//! and the compressed sizes of its layers and config added up.
//!
//! The agent's disk budget asks this before a pull, so it can make room or
//! refuse the task before a byte is downloaded. The registry says only what
//! is downloaded (compressed); what the image takes once unpacked is the
//! agent's estimate from it (see `gantry_agent::disk`).
//!
//! A registry on this machine (localhost, 127.x, ::1) is spoken to in plain
//! http, as the Docker engine does by default; any other over https. A
//! registry that wants a login answers 401 and says how: `Basic` (the login
//! is sent) or `Bearer` (a token is asked of the realm it names, with the
//! login when there is one, anonymously otherwise).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// Why an image's size could not be read from its registry.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the size of {image} from its registry: {detail}")]
pub struct RegistryError {
    /// The image asked about.
    pub image: String,
    /// What went wrong.
    pub detail: String,
}

/// A registry login: user and password (never printed).
#[derive(Clone)]
pub struct RegistryAuth {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryAuth {{ user: {:?}, password: *** }}", self.user)
    }
}

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or an index, as far as sizes go.
#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    /// Present in an index (manifest list): one manifest per platform.
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(default)]
    size: u64,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

/// The bytes a pull of `image` downloads for this machine's platform: the
/// sum of its layers' and config's compressed sizes as its manifest lists
/// them. `image` is a reference as Docker takes it (`busybox`,
/// `ghcr.io/a/b:1`, `reg:5000/x@sha256:…`).
pub async fn image_download_size(
    image: &str,
    auth: Option<&RegistryAuth>,
) -> Result<u64, RegistryError> {
    let fail = |detail: String| RegistryError {
        image: image.to_owned(),
        detail,
    };
    let reference = Reference::parse(image);
    let mut session = Session {
        http: http().map_err(|e| fail(e.to_string()))?,
        auth,
        bearer: None,
    };
    let manifest = session
        .manifest(&reference, &reference.reference)
        .await
        .map_err(fail)?;
    let manifest = if manifest.manifests.is_empty() {
        manifest
    } else {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let chosen = manifest
            .manifests
            .iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            })
            .ok_or_else(|| fail(format!("it has no manifest for linux/{arch}")))?;
        session
            .manifest(&reference, &chosen.digest)
            .await
            .map_err(fail)?
    };
    Ok(manifest.config.map_or(0, |c| c.size) + manifest.layers.iter().map(|l| l.size).sum::<u64>())
}

/// One HTTP client for every registry call: building one loads the
/// system's roots, which a check before each pull should not pay again.
fn http() -> Result<reqwest::Client, reqwest::Error> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// An image reference split as the registry API wants it.
#[derive(Debug, PartialEq, Eq)]
struct Reference {
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`.
    base: String,
    /// `library/busybox`.
    repository: String,
    /// A tag or a digest.
    reference: String,
}

impl Reference {
    fn parse(image: &str) -> Reference {
        let (rest, reference) = match image.split_once('@') {
            Some((rest, digest)) => (rest, digest.to_owned()),
            None => {
                let last_slash = image.rfind('/').map_or(0, |i| i + 1);
                match image[last_slash..].rfind(':') {
                    Some(colon) => (
                        &image[..last_slash + colon],
                        image[last_slash + colon + 1..].to_owned(),
                    ),
                    None => (image, "latest".to_owned()),
                }
            }
        };
        let (host, repository) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ => ("docker.io".to_owned(), rest.to_owned()),
        };
        let repository = if host == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        let local = name == "localhost" || name.starts_with("127.") || name == "[::1]";
        let base = match host.as_str() {
            "docker.io" => "https://registry-1.docker.io".to_owned(),
            _ if local => format!("http://{host}"),
            _ => format!("https://{host}"),
        };
        Reference {
            base,
            repository,
            reference,
        }
    }
}

/// Calls to one registry, remembering a bearer token once one was given.
struct Session<'a> {
    http: reqwest::Client,
    auth: Option<&'a RegistryAuth>,
    bearer: Option<String>,
}

impl Session<'_> {
    async fn manifest(&mut self, image: &Reference, reference: &str) -> Result<Manifest, String> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            image.base, image.repository
        );
        let mut challenged = false;
        loop {
            let mut request = self.http.get(&url).header("Accept", ACCEPT);
            request = match (&self.bearer, self.auth, challenged) {
                (Some(token), _, _) => request.bearer_auth(token),
                (None, Some(auth), true) => request.basic_auth(&auth.user, Some(&auth.password)),
                _ => request,
            };
            let response = request.send().await.map_err(|e| e.to_string())?;
            match response.status() {
                StatusCode::UNAUTHORIZED if !challenged => {
                    challenged = true;
                    let challenge = response
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if challenge.to_ascii_lowercase().starts_with("bearer") {
                        self.bearer = Some(self.token(&challenge).await?);
                    } else if self.auth.is_none() {
                        return Err("the registry wants a login, and none is set for it".into());
                    }
                }
                status if status.is_success() => {
                    return response.json().await.map_err(|e| e.to_string());
                }
                status => return Err(format!("the registry answered {status} for {url}")),
            }
        }
    }

    /// A bearer token from the realm a `Bearer realm=…,service=…,scope=…` challenge names.
    async fn token(&self, challenge: &str) -> Result<String, String> {
        let field = |name: &str| {
            challenge
                .split(',')
                .filter_map(|part| part.trim().trim_start_matches("Bearer ").split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
                .map(|(_, value)| value.trim_matches('"').to_owned())
        };
        let realm = field("realm").ok_or("the registry's login challenge names no realm")?;
        let mut query = Vec::new();
        for name in ["service", "scope"] {
            if let Some(value) = field(name) {
                query.push((name, value));
            }
        }
        let mut request = self.http.get(&realm).query(&query);
        if let Some(auth) = self.auth {
            request = request.basic_auth(&auth.user, Some(&auth.password));
        }
        #[derive(Deserialize)]
        struct Granted {
            token: Option<String>,
            access_token: Option<String>,
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!(
                "the registry's token service answered {}",
                response.status()
            ));
        }
        let granted: Granted = response.json().await.map_err(|e| e.to_string())?;
        granted
            .token
            .or(granted.access_token)
            .ok_or_else(|| "the registry's token service gave no token".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_the_registry_and_repository() {
        let hub = Reference::parse("busybox");
        assert_eq!(hub.base, "https://registry-1.docker.io");
        assert_eq!(
            (hub.repository.as_str(), hub.reference.as_str()),
            ("library/busybox", "latest")
        );
        let local = Reference::parse("127.0.0.1:5000/gantry-test/a:2");
        assert_eq!(local.base, "http://127.0.0.1:5000");
        assert_eq!(
            (local.repository.as_str(), local.reference.as_str()),
            ("gantry-test/a", "2")
        );
        let pinned = Reference::parse("ghcr.io/x/y@sha256:abc");
        assert_eq!(pinned.base, "https://ghcr.io");
        assert_eq!(pinned.reference, "sha256:abc");
    }

    #[test]
    fn passwords_never_print() {
        let auth = RegistryAuth {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}

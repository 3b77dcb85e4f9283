//! The connection to the Docker engine: connecting, each API call bounded
//! by DOCKER_API_CALL_TIMEOUT, waiting for an engine that went away while a
//! task ran, and turning bollard's errors into [`ExecError`]s a person can
//! act on. Every other part of `docker` calls the engine through here.

use std::future::Future;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as DockerError;

use super::Engine;
use crate::executor::{Control, ExecError};

impl Engine {
    /// Connects to `host` (`unix:///path` or `tcp://host:port`; default: DOCKER_HOST,
    /// then the standard socket) and checks the engine answers.
    pub async fn connect(host: Option<&str>, call_timeout: Duration) -> Result<Engine, ExecError> {
        let host = host
            .map(str::to_owned)
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());
        let timeout_secs = call_timeout.as_secs().max(1);
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, timeout_secs, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host.replacen("tcp://", "http://", 1), timeout_secs, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(ExecError::DockerUnavailable(format!(
                "DOCKER_HOST=\"{host}\" is not understood; write unix:///var/run/docker.sock or tcp://HOST:PORT"
            )));
        }
        .map_err(|e| unavailable(&host, &e))?;
        let engine = Engine {
            docker,
            call_timeout,
            agent: None,
            hardening: Default::default(),
        };
        let docker = engine
            .call("connect", engine.docker.clone().negotiate_version())
            .await
            .map_err(|e| match e {
                ExecError::Other(_) => unavailable(&host, &e),
                other => other,
            })?;
        Ok(Engine {
            docker,
            call_timeout,
            agent: None,
            hardening: Default::default(),
        })
    }

    /// Labels the containers this engine handle makes with the agent's id,
    /// and sweeps only those.
    pub fn for_agent(self, agent: String) -> Engine {
        Engine {
            agent: Some(agent),
            ..self
        }
    }

    /// Hardens the task containers this engine handle makes as `hardening` says.
    pub fn with_hardening(self, hardening: super::hardening::Hardening) -> Engine {
        Engine { hardening, ..self }
    }

    /// The engine's version, e.g. "20.10.24".
    pub async fn version(&self) -> Result<String, ExecError> {
        let version = self.call("read the version", self.docker.version()).await?;
        Ok(version.version.unwrap_or_default())
    }

    /// Runs one Docker API call, bounded by DOCKER_API_CALL_TIMEOUT.
    pub(super) async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, DockerError>>,
    ) -> Result<T, ExecError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(result) => result.map_err(|e| classify(what, e)),
            Err(_) => Err(ExecError::Timeout(format!(
                "Docker did not answer ({what}) within {}s (DOCKER_API_CALL_TIMEOUT); the engine may be overloaded or stuck",
                self.call_timeout.as_secs()
            ))),
        }
    }

    /// Waits until the engine answers for the container again. `false` if
    /// the agent is leaving first; an error if the engine stays away for
    /// [`ENGINE_PATIENCE`].
    pub(super) async fn reconnect(&self, id: &str, control: &Control) -> Result<bool, ExecError> {
        let mut backoff = crate::backoff::Backoff::default();
        let give_up = tokio::time::Instant::now() + ENGINE_PATIENCE;
        loop {
            match self.docker.inspect_container(id, None).await {
                Ok(_) => {
                    tracing::info!(container = id, "the Docker engine is back");
                    return Ok(true);
                }
                // Gone for good: the wait that follows says so.
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(true),
                Err(_) if tokio::time::Instant::now() >= give_up => {
                    return Err(ExecError::DockerUnavailable(format!(
                        "the Docker engine went away while the task ran and did not come back within {} minutes",
                        ENGINE_PATIENCE.as_secs() / 60
                    )));
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.wait().min(Duration::from_secs(5))) => {}
                _ = control.detach.cancelled() => return Ok(false),
            }
        }
    }
}

/// How long a task waits for a lost engine before it fails.
const ENGINE_PATIENCE: Duration = Duration::from_secs(10 * 60);

pub(super) fn is_connection_error(error: &DockerError) -> bool {
    matches!(
        error,
        DockerError::HyperResponseError { .. }
            | DockerError::IOError { .. }
            | DockerError::SocketNotFoundError(_)
            | DockerError::RequestTimeoutError
    )
}

fn unavailable(host: &str, error: &dyn std::fmt::Display) -> ExecError {
    ExecError::DockerUnavailable(format!(
        "Docker is not reachable at {host} ({error}); start Docker (e.g. sudo systemctl start docker), \
         check your user may use it (the docker group), or set DOCKER_HOST"
    ))
}

pub(super) fn classify(what: &str, error: DockerError) -> ExecError {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("could not select device driver") || lower.contains("nvidia-container-cli") {
        ExecError::NoGpu(
            "this task asks for GPUs, but Docker has no NVIDIA runtime: install the NVIDIA driver and the \
             NVIDIA Container Toolkit, then restart Docker"
                .into(),
        )
    } else if lower.contains("no space left on device") {
        ExecError::DiskFull(format!(
            "the disk is full ({what}): free space for Docker and the host dir"
        ))
    } else if matches!(error, DockerError::RequestTimeoutError) {
        ExecError::Timeout(format!("Docker did not answer in time ({what})"))
    } else if matches!(
        error,
        DockerError::HyperResponseError { .. }
            | DockerError::IOError { .. }
            | DockerError::SocketNotFoundError(_)
    ) {
        ExecError::DockerUnavailable(format!(
            "lost the connection to Docker ({what}): {text}; is it still running?"
        ))
    } else {
        ExecError::Other(format!("Docker refused to {what}: {text}"))
    }
}

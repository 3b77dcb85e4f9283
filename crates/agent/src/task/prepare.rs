//! Preparing: the task folder with the job's files and its inputs (from the
//! blob store, fetched from the hub when this machine lacks them); for
//! Docker, the images pulled as the pull policy says, the services started
//! on the task's private network and the main container created.
//!
//! Nothing of the task has run yet: a restart at this step starts it over.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gantry_client::ClientError;
use gantry_protocol::TaskState;
use gantry_protocol::job::{Executor, InputRef, JobSpec, PullPolicy};

use super::prepare_tree::place_tree;
use gantry_protocol::wire::{PullProgress, TaskEvent};
use tokio::sync::watch;

use super::report::Reporter;
use super::{Launch, Outcome, Runner, Stage, TaskContext};
use crate::docker::{ContainerPlan, Engine};
use crate::executor::{Command, ExecError};
use crate::host::inside;

/// Why the task folder could not be prepared.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error("cannot create the task folder {}: {source}", path.display())]
    TaskFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the folder for {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot place the input {path}: {source}")]
    Input {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Tree(#[from] super::prepare_tree::TreeError),
    #[error("input {0} is a local path; submit the job with gantry task submit, which uploads it")]
    Local(String),
}

/// Why a blob is not on this machine.
#[derive(Debug, thiserror::Error)]
pub(super) enum BlobError {
    #[error("blob {sha256} is not in local storage, and there is no hub to fetch it from")]
    NoHub { sha256: String },
    #[error("cannot fetch blob {sha256} from the hub: {source}")]
    Fetch { sha256: String, source: ClientError },
    #[error("cannot store blob {sha256}: {source}")]
    Store {
        sha256: String,
        source: std::io::Error,
    },
}

impl Runner<'_> {
    /// Prepares the task; next is the main step, finishing when something
    /// could not be prepared, or nothing more if the agent leaves meanwhile.
    pub(super) async fn prepare(&mut self, leftovers: bool) -> Stage {
        let engine = self.engine();
        if leftovers && let Some(engine) = engine {
            // Containers created but never started ran nothing: start over.
            engine.remove_task(&self.run.task.id).await;
        }
        if let Err(stage) = self.take_gpus().await {
            return stage;
        }
        let inputs =
            match prepare_folder(self.ctx, &self.run.task.spec, &self.command.work_dir).await {
                Ok(inputs) => inputs,
                Err(error) => return Stage::Finishing(Outcome::failed(error.to_string())),
            };
        // The checkpoint folder, writable, with what an earlier run left in it.
        let placed = super::checkpoint::place(self.ctx, &self.run.task, &self.command.work_dir);
        if let Err(error) = placed.await {
            return Stage::Finishing(Outcome::failed(error.to_string()));
        }
        let Some(engine) = engine else {
            return Stage::Main(Launch::Process);
        };
        match self.prepare_containers(engine, inputs).await {
            Ok(stage) => stage,
            Err(error) => Stage::Finishing(Outcome::failed(error.to_string())),
        }
    }

    /// Pulls the images, starts the services and creates the main container.
    async fn prepare_containers(
        &self,
        engine: &Engine,
        inputs: Vec<(PathBuf, String)>,
    ) -> Result<Stage, ExecError> {
        let (ctx, run) = (self.ctx, &self.run);
        let spec = &run.task.spec;
        let id = &run.task.id;
        let image = spec.image.clone().unwrap_or_default();
        // The node's image policy, before anything is pulled: the task fails
        // with the sentence that names the rule (the hub, told the policy,
        // does not offer such tasks; this holds for an older hub, and for `gantry run`).
        if let Some(refusal) = ctx.config.image_policy.refusal_for_job(spec) {
            return Err(ExecError::Other(refusal.to_string()));
        }
        let policy = spec.pull.unwrap_or(if ctx.config.pull_always {
            PullPolicy::Always
        } else {
            PullPolicy::Missing
        });
        let _ = run.state.send(TaskState::Pulling);
        self.reporter
            .send(TaskEvent::Pulling { progress: None }, true)
            .await;
        let mut images = vec![image.clone()];
        images.extend(spec.services.iter().map(|s| s.image.clone()));
        // Room within the disk budget first, or the task goes back (disk/).
        let disk = match self.check_disk(engine, &images, policy).await {
            Ok(check) => check,
            Err(stage) => return Ok(stage),
        };
        for image in &images {
            // A pull can take long; an agent told to leave does not wait for it.
            tokio::select! {
                pulled = ensure_image(ctx, engine, image, policy, &self.reporter, &run.pull) => pulled?,
                _ = run.detach.cancelled() => return Ok(Stage::Left),
            }
        }
        self.keep_disk_after_pull(engine, disk).await;
        let mut network = None;
        // Services are also written into the task's /etc/hosts, so their names
        // resolve even where the engine's DNS does not (some VMs, rootless setups).
        let mut extra_hosts = Vec::new();
        if !spec.services.is_empty() {
            let name = engine.create_network(id, &ctx.node).await?;
            for service in &spec.services {
                let plan = ContainerPlan {
                    task_id: id.clone(),
                    node: ctx.node.clone(),
                    role: "service",
                    name: format!("gantry-{id}-{}", service.name),
                    image: service.image.clone(),
                    command: Command {
                        argv: service.command.clone(),
                        env: service.env.clone(),
                        work_dir: self.command.work_dir.clone(),
                        timeout: None,
                    },
                    inputs: Vec::new(),
                    resources: Default::default(),
                    gpu_ids: Vec::new(),
                    network: Some(name.clone()),
                    aliases: vec![service.name.clone()],
                    extra_hosts: Vec::new(),
                };
                if let Some(address) = engine.start_detached(&plan).await? {
                    extra_hosts.push(format!("{}:{address}", service.name));
                }
            }
            network = Some(name);
        }
        let plan = ContainerPlan {
            task_id: id.clone(),
            node: ctx.node.clone(),
            role: "main",
            name: format!("gantry-{id}"),
            image,
            command: self.command.clone(),
            inputs,
            resources: spec.resources.clone(),
            gpu_ids: self.ctx.gpus.held_by(id),
            network,
            aliases: Vec::new(),
            extra_hosts,
        };
        if run.detach.is_cancelled() {
            return Ok(Stage::Left);
        }
        let container = engine.create(&plan).await?;
        Ok(Stage::Main(Launch::Container(container)))
    }
}

/// Pulls an image as the policy says; pull progress goes to the hub about once a second.
async fn ensure_image(
    ctx: &TaskContext,
    engine: &Engine,
    image: &str,
    policy: PullPolicy,
    reporter: &Reporter,
    shown: &watch::Sender<Option<PullProgress>>,
) -> Result<(), ExecError> {
    let present = engine.has_image(image).await?;
    if present && policy == PullPolicy::Missing {
        return Ok(());
    }
    let started = Instant::now();
    let (progress_tx, mut progress_rx) = watch::channel(None::<PullProgress>);
    let forward = {
        let reporter = reporter.clone();
        tokio::spawn(async move {
            while progress_rx.changed().await.is_ok() {
                let progress = *progress_rx.borrow_and_update();
                reporter.send(TaskEvent::Pulling { progress }, false).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut downloaded = 0;
    let pulled = engine
        .pull(image, &ctx.config.registries, |progress| {
            downloaded = progress.done;
            progress_tx.send_replace(Some(progress));
            shown.send_replace(Some(progress));
        })
        .await;
    drop(progress_tx);
    crate::usage::pulled(downloaded);
    shown.send_replace(None);
    let _ = forward.await;
    ctx.metrics.pulled(
        ctx.statsd.as_deref(),
        image,
        started.elapsed(),
        pulled.is_ok(),
        downloaded,
    );
    match pulled {
        Ok(()) => Ok(()),
        // Offline, or the registry is down: a copy on this machine still runs the task.
        Err(error @ (ExecError::Other(_) | ExecError::Timeout(_))) if present => {
            tracing::warn!(%error, image, "pull failed; using the copy already on this machine");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Writes the job's files and fetches its inputs. Returns the inputs as
/// (blob on this machine, path in the task folder).
async fn prepare_folder(
    ctx: &TaskContext,
    spec: &JobSpec,
    work_dir: &Path,
) -> Result<Vec<(PathBuf, String)>, PrepareError> {
    crate::host::create_private_dir(work_dir).map_err(|source| PrepareError::TaskFolder {
        path: work_dir.to_owned(),
        source,
    })?;
    for file in &spec.files {
        let target = inside(work_dir, &file.path);
        create_parent(&target, &file.path).await?;
        let written = match (&file.content, &file.blob) {
            (Some(content), _) => tokio::fs::write(&target, content).await,
            (None, Some(blob)) => {
                let source = fetch_blob(ctx, blob).await?;
                tokio::fs::copy(&source, &target).await.map(|_| ())
            }
            (None, None) => Ok(()),
        };
        written.map_err(|source| PrepareError::File {
            path: file.path.clone(),
            source,
        })?;
        let mode = if file.executable { 0o755 } else { 0o644 };
        use std::os::unix::fs::PermissionsExt;
        let _ = tokio::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).await;
    }
    let mut inputs = Vec::new();
    for (key, path) in &spec.inputs {
        let sha256 = match InputRef::of(key) {
            InputRef::Blob(sha256) => sha256,
            InputRef::Tree(tree) => {
                let built = place_tree(ctx, spec.executor, tree, path, work_dir).await?;
                if let Some(folder) = built {
                    inputs.push((folder, path.clone()));
                }
                continue;
            }
            InputRef::Local(local) | InputRef::Unknown(local) => {
                return Err(PrepareError::Local(local.to_owned()));
            }
        };
        let blob = fetch_blob(ctx, sha256).await?;
        let target = inside(work_dir, path);
        create_parent(&target, path).await?;
        if spec.executor == Executor::Process {
            // A copy: a subprocess runs as this user and could change a linked blob.
            tokio::fs::copy(&blob, &target)
                .await
                .map_err(|source| PrepareError::Input {
                    path: path.clone(),
                    source,
                })?;
        } else {
            // Docker mounts the blob read-only; its mount point must exist as a file.
            let _ = tokio::fs::write(&target, b"").await;
        }
        inputs.push((blob, path.clone()));
    }
    Ok(inputs)
}

/// Creates the folder `target` (the job's `path`) goes in.
async fn create_parent(target: &Path, path: &str) -> Result<(), PrepareError> {
    let Some(parent) = target.parent() else {
        return Ok(());
    };
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|source| PrepareError::Folder {
            path: path.to_owned(),
            source,
        })
}

/// The blob's path in local storage, downloading (and verifying) it from the hub if needed.
pub(super) async fn fetch_blob(ctx: &TaskContext, sha256: &str) -> Result<PathBuf, BlobError> {
    if ctx.host.has_blob(sha256) {
        return Ok(ctx.host.blob(sha256));
    }
    let Some(hub) = &ctx.hub else {
        return Err(BlobError::NoHub {
            sha256: sha256.to_owned(),
        });
    };
    let stream = hub.blob(sha256).await.map_err(|source| BlobError::Fetch {
        sha256: sha256.to_owned(),
        source,
    })?;
    ctx.host
        .store_blob(sha256, Box::pin(stream))
        .await
        .map_err(|source| BlobError::Store {
            sha256: sha256.to_owned(),
            source,
        })?;
    if let Ok(meta) = tokio::fs::metadata(ctx.host.blob(sha256)).await {
        crate::usage::downloaded(meta.len());
    }
    Ok(ctx.host.blob(sha256))
}

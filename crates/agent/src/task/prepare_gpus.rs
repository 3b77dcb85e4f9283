//! Preparing's first part for a task with `gpus`: its devices, taken from
//! the agent's [`crate::gpus::GpuOwner`], waiting while they are busy.
//!
//! A task the hub offered this node may still find its GPUs busy (another
//! task took them since the last heartbeat, a foreign program holds the
//! memory): it waits, saying so once in its log, and tries again at each
//! give-back. Free memory has no event (a foreign program freeing memory
//! tells nobody), so it also looks again every [`RECHECK`]. A request this
//! node can never meet fails at once with the sentence that says why.

use std::time::Duration;

use bytes::Bytes;
use gantry_protocol::gpu_assign::GpuRequest;
use gantry_protocol::job::Executor;

use super::{Outcome, Runner, Stage};
use crate::executor::{Chunk, Stream};

/// How often a waiting task looks at free memory again without a give-back.
const RECHECK: Duration = Duration::from_secs(5);

impl Runner<'_> {
    /// Takes the task's GPUs and tells its command which they are
    /// (`CUDA_VISIBLE_DEVICES`, and `NVIDIA_VISIBLE_DEVICES` in Docker).
    /// `Err`: the stage to go to instead (failed, canceled, or left).
    pub(super) async fn take_gpus(&mut self) -> Result<(), Stage> {
        let spec = &self.run.task.spec;
        let Some(request) = GpuRequest::of(&spec.resources) else {
            return Ok(());
        };
        let docker = spec.executor == Executor::Docker;
        let owner = self.ctx.gpus.clone();
        let id = self.run.task.id.clone();
        let mut changes = owner.changes();
        let mut told = false;
        let slots = loop {
            changes.mark_unchanged();
            match owner.take(&id, &request).await {
                Ok(slots) => break slots,
                Err(_) if !owner.has_nvml() => {
                    return Err(Stage::Finishing(Outcome::failed(
                        "the job asks for GPUs and this node has no NVIDIA GPU \
                         (NVML, the NVIDIA driver's library, is not installed or not loaded): \
                         run it on a node with one, or install the NVIDIA driver \
                         (and, for Docker tasks, the NVIDIA Container Toolkit)",
                    )));
                }
                Err(unfit) if unfit.may_fit_later() => {
                    if !told {
                        told = true;
                        self.note(&format!("waiting for GPUs: {unfit}")).await;
                    }
                    tokio::select! {
                        _ = changes.changed() => {}
                        _ = tokio::time::sleep(RECHECK) => {}
                        _ = self.run.cancel.cancelled() => return Err(Stage::Finishing(Outcome {
                            state: gantry_protocol::TaskState::Canceled,
                            exit_code: None,
                            reason: Some("canceled while waiting for GPUs".into()),
                        })),
                        _ = self.run.detach.cancelled() => return Err(Stage::Left),
                    }
                }
                Err(unfit) => {
                    return Err(Stage::Finishing(Outcome::failed(format!(
                        "{unfit}; change the job's gpus"
                    ))));
                }
            }
        };
        if slots.is_empty() {
            // `gpus: all` where every GPU is the person's, or none is seen.
            owner.give_back(&id);
            return Err(Stage::Finishing(Outcome::failed(
                "the job asks for all GPUs and this node has none it may use; change the job's gpus",
            )));
        }
        let mut counters = crate::usage::gpu_counters(
            &owner,
            slots.iter().map(|slot| slot.uuid.clone()).collect(),
        )
        .await;
        if counters.is_empty() {
            // No NVML to read (made-up inventories): the slots say enough.
            counters = slots
                .iter()
                .map(|s| (s.uuid.clone(), s.index, None))
                .collect();
        }
        self.usage.took_gpus(counters, crate::clock::now_ms());
        let uuids: Vec<String> = slots.into_iter().map(|slot| slot.uuid).collect();
        let visible = uuids.join(",");
        if told {
            self.note(&format!("got GPUs {visible}")).await;
        }
        let env = &mut self.command.env;
        env.insert("CUDA_VISIBLE_DEVICES".into(), visible.clone());
        if docker {
            env.insert("NVIDIA_VISIBLE_DEVICES".into(), visible);
        }
        Ok(())
    }

    /// A line from the agent in the task's log (stderr), as `gantry: …`.
    async fn note(&self, line: &str) {
        let _ = self
            .log
            .sink()
            .send(Chunk {
                stream: Stream::Stderr,
                bytes: Bytes::from(format!("gantry: {line}\n")),
            })
            .await;
    }
}

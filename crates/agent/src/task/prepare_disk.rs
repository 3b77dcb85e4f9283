//! Preparing's disk check, before the images are pulled: each image the
//! task needs is noted in the disk ledger (one already here that Gantry
//! never pulled is the person's), what the pulls will take is estimated, and
//! room is made within the disk budget, least recently used first.
//!
//! When the pulls cannot fit even after eviction, the task is given back to
//! the hub's queue (the release path a yield uses), with the sentence
//! saying why (`image … needs 14.2 GB, the budget leaves 6.1 GB`), so
//! another node may take it. A task this node gave back once already, that
//! came back to it, fails with that sentence instead of going round; so
//! does one run without a hub (`gantry run`).

use bytes::Bytes;
use gantry_protocol::job::PullPolicy;

use super::{Outcome, Runner, Stage};
use crate::disk::ledger::Ledger;
use crate::disk::{Sources, amount, estimate, room};
use crate::docker::Engine;
use crate::executor::{Chunk, Stream};

/// What the pulls still ask of the budget once they are done.
pub(super) struct DiskCheck {
    /// Some image's size could not be estimated: keep the budget after the pulls.
    pub(super) keep_after_pull: bool,
}

/// What the pulls will take, as far as the registries say.
struct Sizes {
    /// The bytes they add, estimated.
    need: u64,
    /// Some image's size could not be estimated.
    unknown: bool,
    /// The image adding the most, and how much.
    biggest: Option<(String, u64)>,
    /// Each image, and whether it is on the machine now.
    seen: Vec<(String, bool)>,
}

/// Estimates what pulling `images` as `policy` says adds to the disk.
async fn pull_sizes(
    engine: &Engine,
    images: &[String],
    policy: PullPolicy,
    logins: &[crate::docker::RegistryLogin],
) -> Sizes {
    let mut sizes = Sizes {
        need: 0,
        unknown: false,
        biggest: None,
        seen: Vec::new(),
    };
    for image in images {
        let facts = engine.image_facts(image).await.ok().flatten();
        sizes.seen.push((image.clone(), facts.is_some()));
        if facts.is_some() && policy == PullPolicy::Missing {
            continue;
        }
        match estimate::image_needs(image, logins).await {
            Some(bytes) => {
                let more = bytes.saturating_sub(facts.map_or(0, |f| f.size));
                sizes.need += more;
                if sizes.biggest.as_ref().is_none_or(|(_, b)| more > *b) {
                    sizes.biggest = Some((image.clone(), more));
                }
            }
            None => sizes.unknown = true,
        }
    }
    sizes
}

impl Runner<'_> {
    /// The sources the disk budget reads for this task's node.
    pub(super) fn disk_sources<'e>(&'e self, engine: &'e Engine) -> Sources<'e> {
        Sources {
            host: &self.ctx.host,
            engine: Some(engine),
            hub: self.ctx.hub.as_ref(),
            evict_unsynced_results: self.ctx.config.disk_evict_unsynced_results,
        }
    }

    /// Notes the images, and makes room for their pulls; `Err`: the stage
    /// to go to instead (given back, or failed).
    pub(super) async fn check_disk(
        &self,
        engine: &Engine,
        images: &[String],
        policy: PullPolicy,
    ) -> Result<DiskCheck, Stage> {
        let ctx = self.ctx;
        let now = crate::clock::now_ms();
        let sources = self.disk_sources(engine);
        // The registry is asked while the host dir and the engine are read.
        let (sizes, standing) = tokio::join!(
            pull_sizes(engine, images, policy, &ctx.config.registries),
            room::standing(sources, &ctx.config.disk)
        );
        let Sizes {
            need,
            unknown,
            biggest,
            seen,
        } = sizes;
        let biggest = biggest
            .as_ref()
            .map(|(image, bytes)| (image.as_str(), *bytes));
        if let Err(error) = Ledger::update(&ctx.host, |ledger| {
            for (image, present) in &seen {
                ledger.used(image, *present, now);
            }
        }) {
            tracing::warn!(%error, "disk budget: cannot write the disk ledger");
        }
        match room::make_room_from(sources, &standing, need).await {
            Ok(evicted) => {
                if !evicted.is_empty() {
                    let freed = evicted.iter().map(|i| i.size).sum();
                    self.disk_note(&format!(
                        "made room for the image within the disk budget: evicted {} least recently used (of images, blobs, results, task folders, checkpoints), {}",
                        evicted.len(),
                        amount(freed)
                    ))
                    .await;
                }
                Ok(DiskCheck {
                    keep_after_pull: unknown,
                })
            }
            Err(no_room) => Err(self.no_room(&no_room, images, biggest).await),
        }
    }

    /// The task cannot fit: given back once, failed when it comes back.
    async fn no_room(
        &self,
        no_room: &room::NoRoom,
        images: &[String],
        biggest: Option<(&str, u64)>,
    ) -> Stage {
        let id = &self.run.task.id;
        let what = match (images.len(), biggest) {
            (1, _) | (_, None) => format!("image {}", images[0]),
            (_, Some((image, _))) => format!("its images (the largest {image})"),
        };
        let sentence = format!(
            "{what} {no_room} on this node's disk (estimated; see --disk-max-gb, --disk-max-percent, --disk-min-free-gb)"
        );
        tracing::warn!(task = %id, "disk budget: {sentence}");
        let now = crate::clock::now_ms();
        let again = Ledger::update(&self.ctx.host, |l| {
            l.given_back.insert(id.clone(), now).is_some()
        })
        .unwrap_or(true);
        if again || self.ctx.hub.is_none() {
            Stage::Finishing(Outcome::failed(sentence))
        } else {
            Stage::Released(sentence)
        }
    }

    /// Keeps the budget after pulls whose size was not known before.
    pub(super) async fn keep_disk_after_pull(&self, engine: &Engine, check: DiskCheck) {
        if check.keep_after_pull {
            room::keep_within(self.disk_sources(engine), &self.ctx.config.disk).await;
        }
    }

    /// A line from the agent in the task's log (stderr), as `gantry: …`.
    async fn disk_note(&self, line: &str) {
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

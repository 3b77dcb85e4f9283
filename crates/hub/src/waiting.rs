//! Why a queued task waits, in a sentence for the person who submitted it.
//!
//! A task no node can take stays queued; without a word its submitter cannot
//! tell a busy cluster from a job no node will ever run (four GPUs asked of
//! nodes that have two). [`why_queued`] reads the nodes as the hub lists them
//! and says, node by node, what keeps each from the task: offline, paused,
//! draining, yielding to its person, not carrying its labels, its image
//! policy refusing the task's images, or its GPUs
//! (decided by [`gantry_protocol::gpu_assign::assign`], as dispatch does).
//! Nothing is said while some node could take it at its next poll.

use gantry_protocol::admin::NodeState;
use gantry_protocol::gpu_assign::{GpuRequest, assign};
use gantry_protocol::wire::{Node, Task};
use gantry_protocol::{JobSpec, TaskState};

/// How many nodes the sentence names before it counts the rest.
const NAMED: usize = 4;

/// Why `task` waits in the queue given `nodes`, or `None` when it is not
/// queued or some node may take it now.
pub fn why_queued(task: &Task, nodes: &[Node]) -> Option<String> {
    if task.state != TaskState::Queued {
        return None;
    }
    let spec = &task.spec;
    let candidates: Vec<&Node> = nodes
        .iter()
        .filter(|node| spec.node.as_ref().is_none_or(|name| *name == node.name))
        .collect();
    if candidates.is_empty() {
        return Some(match &spec.node {
            Some(name) => format!("it is meant for node {name}, which the hub does not know"),
            None => "the hub has no node yet (add one with gantry hub node add)".to_owned(),
        });
    }
    let request = GpuRequest::of(&spec.resources);
    let mut blocked = Vec::new();
    for node in candidates {
        match blocker(node, spec, request.as_ref()) {
            None => return None,
            Some(why) => blocked.push(format!("{}: {why}", node.name)),
        }
    }
    let rest = blocked.len().saturating_sub(NAMED);
    blocked.truncate(NAMED);
    let mut sentence = format!("no node can take it now ({}", blocked.join("; "));
    if rest > 0 {
        sentence.push_str(&format!("; {rest} more"));
    }
    sentence.push(')');
    Some(sentence)
}

/// What keeps `node` from the task of `spec` with the GPU `request`.
fn blocker(node: &Node, spec: &JobSpec, request: Option<&GpuRequest>) -> Option<String> {
    let labels = &spec.labels;
    let yields = node
        .yield_reason
        .as_deref()
        .unwrap_or("its person comes first");
    match node.state {
        NodeState::Offline => return Some("offline".into()),
        NodeState::Paused => return Some("paused".into()),
        NodeState::Draining => return Some("draining".into()),
        NodeState::Yielding if request.is_some() || !node.yields_gpu_only => {
            return Some(format!("yielding ({yields})"));
        }
        NodeState::Online | NodeState::Yielding => {}
    }
    if let Some(missing) = labels.iter().find(|label| !node.labels.contains(label)) {
        return Some(format!("lacks the label {missing}"));
    }
    if node.only_labeled && labels.is_empty() {
        return Some("takes only labeled tasks".into());
    }
    if let Some(refusal) = node
        .image_policy
        .as_ref()
        .and_then(|policy| policy.refusal_for_job(spec))
    {
        return Some(refusal.rule.replace("this node", "it"));
    }
    let (Some(request), Some(capacity)) = (request, &node.capacity) else {
        return None;
    };
    assign(request, &capacity.gpus).err().map(|unfit| {
        // The shared sentence speaks of "this node"; here the node is named.
        unfit.to_string().replace("this node", "it")
    })
}

#[cfg(test)]
mod tests;

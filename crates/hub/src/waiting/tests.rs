use gantry_protocol::JobSpec;
use gantry_protocol::TaskState;
use gantry_protocol::admin::NodeState;
use gantry_protocol::gpu_assign::GpuSlot;
use gantry_protocol::job::Format;
use gantry_protocol::wire::{Node, NodeCapacity, Task};

use super::why_queued;

const GIB: u64 = 1 << 30;

fn task(job: &str) -> Task {
    Task {
        id: "t1".into(),
        name: "train".into(),
        state: TaskState::Queued,
        spec: JobSpec::parse(job, Format::Yaml).unwrap(),
        node: None,
        exit_code: None,
        reason: None,
        created_at: 0,
        updated_at: 0,
        started_at: None,
        finished_at: None,
        log_size: 0,
        pending_command: None,
        pull_progress: None,
        outputs: Vec::new(),
        history: Vec::new(),
        checkpoint: None,
        waiting: None,
        gpu_use: None,
        usage: None,
    }
}

fn gpu(index: u32, free_gib: u64, holders: u32) -> GpuSlot {
    GpuSlot {
        index,
        uuid: format!("GPU-{index}"),
        free_bytes: free_gib * GIB,
        holders,
        shared: false,
        reserved: false,
    }
}

fn node(name: &str, state: NodeState, gpus: Option<Vec<GpuSlot>>) -> Node {
    Node {
        id: format!("id-{name}"),
        name: name.into(),
        labels: vec!["vm".into()],
        online: state != NodeState::Offline,
        last_seen: Some(0),
        version: None,
        system: None,
        tasks_held: 0,
        state,
        running: Vec::new(),
        given_labels: Vec::new(),
        agent_labels: vec!["vm".into()],
        only_labeled: false,
        yield_reason: (state == NodeState::Yielding).then(|| "blender is running".into()),
        yields_gpu_only: false,
        capacity: gpus.map(|gpus| NodeCapacity { gpus }),
        image_policy: None,
    }
}

const TWO_GPUS: &str = "image: x\ncommand: [a]\nresources: {gpus: 2, gpu_memory: 8GiB}\n";

#[test]
fn a_node_that_fits_now_means_no_word() {
    let nodes = [
        node(
            "busy",
            NodeState::Online,
            Some(vec![gpu(0, 40, 1), gpu(1, 40, 1)]),
        ),
        node(
            "free",
            NodeState::Online,
            Some(vec![gpu(0, 40, 0), gpu(1, 40, 0)]),
        ),
    ];
    assert_eq!(why_queued(&task(TWO_GPUS), &nodes), None);
    // Nor for a task that is not queued.
    let mut running = task(TWO_GPUS);
    running.state = TaskState::Running;
    assert_eq!(why_queued(&running, &[]), None);
}

#[test]
fn each_node_says_what_keeps_it_from_the_task() {
    let nodes = [
        node("small", NodeState::Online, Some(vec![gpu(0, 40, 0)])),
        node(
            "full",
            NodeState::Online,
            Some(vec![gpu(0, 4, 0), gpu(1, 40, 1)]),
        ),
        node(
            "desk",
            NodeState::Yielding,
            Some(vec![gpu(0, 40, 0), gpu(1, 40, 0)]),
        ),
        node("away", NodeState::Offline, None),
    ];
    let why = why_queued(&task(TWO_GPUS), &nodes).unwrap();
    assert_eq!(
        why,
        "no node can take it now (small: the task asks for 2 GPUs and it has 1 it may use; \
         full: the task waits for 2 free GPUs; 0 fit now (others are held or short of memory); \
         desk: yielding (blender is running); away: offline)"
    );
}

#[test]
fn labels_names_and_a_gpu_only_yield() {
    let cpu_job = "image: x\ncommand: [a]\nlabels: [big]\n";
    let mut desk = node("desk", NodeState::Yielding, None);
    desk.yields_gpu_only = true;
    desk.labels.push("big".into());
    // A GPU-only yield keeps CPU work: desk may take it.
    assert_eq!(why_queued(&task(cpu_job), &[desk.clone()]), None);
    desk.yields_gpu_only = false;
    let lab = node("lab", NodeState::Online, None);
    assert_eq!(
        why_queued(&task(cpu_job), &[desk, lab]).unwrap(),
        "no node can take it now (desk: yielding (blender is running); lab: lacks the label big)"
    );
    let pinned = "image: x\ncommand: [a]\nnode: gone\n";
    assert_eq!(
        why_queued(&task(pinned), &[node("lab", NodeState::Online, None)]).unwrap(),
        "it is meant for node gone, which the hub does not know"
    );
    assert!(
        why_queued(&task(cpu_job), &[])
            .unwrap()
            .contains("the hub has no node yet")
    );
}

#[test]
fn many_nodes_are_counted_after_the_first_few() {
    let nodes: Vec<Node> = (0..7)
        .map(|i| node(&format!("n{i}"), NodeState::Paused, None))
        .collect();
    let why = why_queued(&task("image: x\ncommand: [a]\n"), &nodes).unwrap();
    assert!(why.ends_with("n3: paused; 3 more)"), "{why}");
}

#[test]
fn an_image_policy_is_named() {
    let mut strict = node("strict", NodeState::Online, None);
    strict.image_policy = Some(gantry_protocol::image_policy::ImagePolicy {
        allowed: vec!["registry.example.com/**".into()],
        pinned_only: false,
    });
    let task = task("image: busybox\ncommand: [a]\n");
    assert_eq!(
        why_queued(&task, std::slice::from_ref(&strict)).as_deref(),
        Some(
            "no node can take it now (strict: it takes only images matching registry.example.com/**)"
        )
    );
    let open = node("open", NodeState::Online, None);
    assert_eq!(why_queued(&task, &[strict, open]), None);
}

//! Ownership on made-up inventories: holders, the person's GPUs, give-back,
//! re-attached tasks, promised memory, no NVML.

use std::sync::{Arc, Mutex};

use gantry_protocol::gpu_assign::{GpuRequest, Unfit};
use gantry_protocol::job::Gpus;

use super::GpuOwner;
use crate::monitor::GpuDevice;

const GIB: u64 = 1 << 30;

fn gpu(index: u32, free_gib: u64) -> GpuDevice {
    GpuDevice {
        index,
        uuid: format!("GPU-{index}"),
        name: "test".into(),
        free_bytes: free_gib * GIB,
        total_bytes: 80 * GIB,
        temperature_c: Some(40),
        processes: Vec::new(),
    }
}

fn owner(devices: Vec<GpuDevice>, reserved: &[u32]) -> Arc<GpuOwner> {
    Arc::new(GpuOwner::reading(reserved, move || Some(devices.clone())))
}

fn count(n: u32) -> GpuRequest {
    GpuRequest {
        gpus: Gpus::Count(n),
        memory_bytes: None,
        may_share: false,
    }
}

fn uuids(slots: &[gantry_protocol::gpu_assign::GpuSlot]) -> Vec<&str> {
    slots.iter().map(|slot| slot.uuid.as_str()).collect()
}

#[test]
fn two_tasks_get_different_gpus_and_a_third_waits() {
    let owner = owner(vec![gpu(0, 70), gpu(1, 80)], &[]);
    let first = owner.take_blocking("a", &count(1)).unwrap();
    let second = owner.take_blocking("b", &count(1)).unwrap();
    assert_eq!(uuids(&first), ["GPU-1"], "most free memory first");
    assert_eq!(uuids(&second), ["GPU-0"]);
    assert_eq!(
        owner.take_blocking("c", &count(1)),
        Err(Unfit::Busy { wanted: 1, free: 0 })
    );
    let capacity = owner.capacity_blocking();
    assert!(capacity.gpus.iter().all(|slot| slot.holders == 1));
    assert!(capacity.gpus.iter().all(|slot| slot.free_bytes == 0));
}

#[test]
fn give_back_frees_and_rings() {
    let owner = owner(vec![gpu(0, 80)], &[]);
    let mut changes = owner.changes();
    owner.take_blocking("a", &count(1)).unwrap();
    assert!(owner.take_blocking("b", &count(1)).is_err());
    assert!(!changes.has_changed().unwrap());
    owner.give_back("a");
    assert!(changes.has_changed().unwrap());
    changes.mark_unchanged();
    // Giving back what is not held rings nobody.
    owner.give_back("a");
    assert!(!changes.has_changed().unwrap());
    assert_eq!(
        uuids(&owner.take_blocking("b", &count(1)).unwrap()),
        ["GPU-0"]
    );
    assert_eq!(owner.held_by("b"), ["GPU-0"]);
    assert!(owner.held_by("a").is_empty());
}

#[test]
fn a_reserved_gpu_is_never_given() {
    let owner = owner(vec![gpu(0, 80), gpu(1, 10)], &[0]);
    assert_eq!(
        uuids(&owner.take_blocking("a", &count(1)).unwrap()),
        ["GPU-1"]
    );
    // Only one may be used at all: two is never, not later.
    assert_eq!(
        owner.take_blocking("b", &count(2)),
        Err(Unfit::TooFew {
            wanted: 2,
            usable: 1
        })
    );
    let exact = GpuRequest {
        gpus: Gpus::Indices(vec![0]),
        ..count(1)
    };
    assert_eq!(
        owner.take_blocking("c", &exact),
        Err(Unfit::NoSuchGpu {
            index: 0,
            reserved: true
        })
    );
    let capacity = owner.capacity_blocking();
    assert!(capacity.gpus[0].reserved && !capacity.gpus[1].reserved);
}

#[test]
fn promised_memory_counts_before_the_task_allocates() {
    let owner = owner(vec![gpu(0, 80)], &[]);
    let share = |gib| GpuRequest {
        gpus: Gpus::Count(1),
        memory_bytes: Some(gib * GIB),
        may_share: true,
    };
    owner.take_blocking("a", &share(50)).unwrap();
    // NVML still says 80 GiB free; 30 are left unpromised.
    assert_eq!(owner.capacity_blocking().gpus[0].free_bytes, 30 * GIB);
    assert!(matches!(
        owner.take_blocking("b", &share(40)),
        Err(Unfit::Busy { .. })
    ));
    owner.take_blocking("c", &share(30)).unwrap();
    let slot = &owner.capacity_blocking().gpus[0];
    assert_eq!((slot.holders, slot.shared, slot.free_bytes), (2, true, 0));
    // A task that does not share never joins a held GPU.
    owner.give_back("c");
    assert!(owner.take_blocking("d", &count(1)).is_err());
}

#[test]
fn free_memory_follows_nvml() {
    let devices = Arc::new(Mutex::new(vec![gpu(0, 4)]));
    let read = devices.clone();
    let owner = Arc::new(GpuOwner::reading(&[], move || {
        Some(read.lock().unwrap().clone())
    }));
    let request = GpuRequest {
        gpus: Gpus::Count(1),
        memory_bytes: Some(10 * GIB),
        may_share: false,
    };
    assert!(
        owner
            .take_blocking("a", &request)
            .unwrap_err()
            .may_fit_later()
    );
    devices.lock().unwrap()[0].free_bytes = 12 * GIB;
    assert_eq!(
        uuids(&owner.take_blocking("a", &request).unwrap()),
        ["GPU-0"]
    );
}

#[test]
fn a_reattached_task_keeps_its_devices() {
    let owner = owner(vec![gpu(0, 80), gpu(1, 80)], &[]);
    owner.hold("old", vec!["GPU-1".into()], Some(&count(1)));
    assert_eq!(owner.held_by("old"), ["GPU-1"]);
    // Taking again gives the same devices, not new ones.
    assert_eq!(
        uuids(&owner.take_blocking("old", &count(1)).unwrap()),
        ["GPU-1"]
    );
    assert_eq!(
        uuids(&owner.take_blocking("new", &count(1)).unwrap()),
        ["GPU-0"]
    );
    assert!(owner.take_blocking("third", &count(1)).is_err());
    owner.hold("nothing", Vec::new(), None);
    assert_eq!(owner.capacity_blocking().gpus.len(), 2);
}

#[test]
fn mig_devices_are_given_by_uuid() {
    let mig = |slot: u32| GpuDevice {
        uuid: format!("MIG-{slot}"),
        total_bytes: 10 * GIB,
        free_bytes: 10 * GIB,
        ..gpu(0, 0)
    };
    let owner = owner(vec![mig(0), mig(1)], &[]);
    let a = owner.take_blocking("a", &count(1)).unwrap();
    let b = owner.take_blocking("b", &count(1)).unwrap();
    assert_eq!((uuids(&a), uuids(&b)), (vec!["MIG-0"], vec!["MIG-1"]));
    assert_eq!((a[0].index, b[0].index), (0, 0));
}

#[test]
fn without_nvml_no_gpus_and_it_says_so() {
    let owner = Arc::new(GpuOwner::reading(&[], || None));
    assert!(owner.capacity_blocking().gpus.is_empty());
    assert!(!owner.has_nvml());
    assert_eq!(
        owner.take_blocking("a", &count(1)),
        Err(Unfit::TooFew {
            wanted: 1,
            usable: 0
        })
    );
}

#[tokio::test]
async fn async_methods_answer_from_the_blocking_pool() {
    let owner = owner(vec![gpu(0, 80)], &[]);
    assert_eq!(owner.take("a", &count(1)).await.unwrap().len(), 1);
    assert_eq!(owner.capacity().await.gpus[0].holders, 1);
}

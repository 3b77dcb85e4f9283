//! The assignment on made-up inventories: 1 to 8 GPUs, MIG devices,
//! reserved and busy ones.

use super::*;

const GIB: u64 = 1 << 30;

/// `n` whole GPUs with `free_gib[i]` GiB free each.
fn node(free_gib: &[u64]) -> Vec<GpuSlot> {
    free_gib
        .iter()
        .enumerate()
        .map(|(i, free)| GpuSlot {
            index: i as u32,
            uuid: format!("GPU-{i}"),
            free_bytes: free * GIB,
            holders: 0,
            shared: false,
            reserved: false,
        })
        .collect()
}

fn ask(gpus: Gpus) -> GpuRequest {
    GpuRequest {
        gpus,
        memory_bytes: None,
        may_share: false,
    }
}

fn indices(assigned: &[GpuSlot]) -> Vec<u32> {
    assigned.iter().map(|s| s.index).collect()
}

#[test]
fn a_count_takes_the_free_gpus_with_the_most_free_memory() {
    let slots = node(&[10, 70, 40, 70]);
    assert_eq!(
        indices(&assign(&ask(Gpus::Count(2)), &slots).unwrap()),
        [1, 3]
    );
    assert_eq!(
        indices(&assign(&ask(Gpus::Count(1)), &node(&[5])).unwrap()),
        [0]
    );
    assert!(assign(&ask(Gpus::Count(0)), &slots).unwrap().is_empty());
}

#[test]
fn a_gpu_another_task_holds_is_not_given_unless_both_share() {
    let mut slots = node(&[80, 80, 80, 80, 80, 80, 80, 80]);
    for slot in &mut slots[..6] {
        slot.holders = 1;
    }
    assert_eq!(
        indices(&assign(&ask(Gpus::Count(2)), &slots).unwrap()),
        [6, 7]
    );
    assert_eq!(
        assign(&ask(Gpus::Count(3)), &slots),
        Err(Unfit::Busy { wanted: 3, free: 2 })
    );
    slots[0].shared = true;
    let sharing = GpuRequest {
        may_share: true,
        ..ask(Gpus::Count(3))
    };
    assert_eq!(indices(&assign(&sharing, &slots).unwrap()), [0, 6, 7]);
    // A GPU held by a task that does not share stays its own.
    let mut alone = node(&[80]);
    alone[0].holders = 1;
    let sharing_one = GpuRequest {
        may_share: true,
        ..ask(Gpus::Count(1))
    };
    assert!(assign(&sharing_one, &alone).is_err());
}

#[test]
fn gpu_memory_needs_that_much_free_on_each() {
    let slots = node(&[8, 12, 40]);
    let needs = |gib: u64, n: u32| GpuRequest {
        memory_bytes: Some(gib * GIB),
        ..ask(Gpus::Count(n))
    };
    assert_eq!(indices(&assign(&needs(10, 2), &slots).unwrap()), [2, 1]);
    assert_eq!(
        assign(&needs(20, 2), &slots),
        Err(Unfit::Busy { wanted: 2, free: 1 })
    );
    assert!(assign(&needs(20, 2), &slots).unwrap_err().may_fit_later());
}

#[test]
fn the_persons_gpus_are_never_given() {
    let mut slots = node(&[80, 80]);
    slots[0].reserved = true;
    assert_eq!(indices(&assign(&ask(Gpus::Count(1)), &slots).unwrap()), [1]);
    let too_many = assign(&ask(Gpus::Count(2)), &slots).unwrap_err();
    assert_eq!(
        too_many,
        Unfit::TooFew {
            wanted: 2,
            usable: 1
        }
    );
    assert!(!too_many.may_fit_later());
    assert_eq!(
        assign(&ask(Gpus::Indices(vec![0])), &slots),
        Err(Unfit::NoSuchGpu {
            index: 0,
            reserved: true
        })
    );
    assert_eq!(indices(&assign(&ask(Gpus::All), &slots).unwrap()), [1]);
}

#[test]
fn indices_are_exactly_those_or_the_task_waits() {
    let mut slots = node(&[80, 80, 80]);
    assert_eq!(
        indices(&assign(&ask(Gpus::Indices(vec![2, 0])), &slots).unwrap()),
        [2, 0]
    );
    assert_eq!(
        assign(&ask(Gpus::Indices(vec![5])), &slots),
        Err(Unfit::NoSuchGpu {
            index: 5,
            reserved: false
        })
    );
    slots[2].holders = 1;
    assert_eq!(
        assign(&ask(Gpus::Indices(vec![0, 2])), &slots),
        Err(Unfit::Busy { wanted: 2, free: 1 })
    );
}

#[test]
fn all_waits_until_every_usable_gpu_is_free() {
    let mut slots = node(&[80, 80, 80, 80]);
    assert_eq!(
        indices(&assign(&ask(Gpus::All), &slots).unwrap()),
        [0, 1, 2, 3]
    );
    slots[3].holders = 1;
    assert_eq!(
        assign(&ask(Gpus::All), &slots),
        Err(Unfit::Busy { wanted: 4, free: 3 })
    );
}

#[test]
fn mig_devices_are_given_one_by_one_by_uuid() {
    // One A100 split into three MIG devices, and a whole GPU beside it.
    let mut slots: Vec<GpuSlot> = (0..3)
        .map(|i| GpuSlot {
            index: 0,
            uuid: format!("MIG-0-{i}"),
            free_bytes: 20 * GIB,
            holders: 0,
            shared: false,
            reserved: false,
        })
        .collect();
    slots.extend(node(&[0, 80]).into_iter().skip(1));
    slots[0].holders = 1;
    let two_of_gpu0 = assign(&ask(Gpus::Indices(vec![0, 0])), &slots).unwrap();
    let uuids: Vec<&str> = two_of_gpu0.iter().map(|s| s.uuid.as_str()).collect();
    assert_eq!(uuids, ["MIG-0-1", "MIG-0-2"]);
    let counted = assign(&ask(Gpus::Count(3)), &slots).unwrap();
    let uuids: Vec<&str> = counted.iter().map(|s| s.uuid.as_str()).collect();
    assert_eq!(uuids, ["GPU-1", "MIG-0-1", "MIG-0-2"]);
}

#[test]
fn every_refusal_is_a_sentence() {
    for unfit in [
        Unfit::TooFew {
            wanted: 4,
            usable: 2,
        },
        Unfit::NoSuchGpu {
            index: 3,
            reserved: false,
        },
        Unfit::NoSuchGpu {
            index: 0,
            reserved: true,
        },
        Unfit::Busy { wanted: 2, free: 0 },
    ] {
        let text = unfit.to_string();
        assert!(text.contains("GPU"), "{text}");
    }
}

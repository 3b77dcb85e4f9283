//! Images of distinct sizes for the disk budget's tests
//! ([`gantry_testkit::sized_images`]), with what the agent estimates a
//! pull of each takes, and the kit's registry login as the agent takes it.

#![allow(dead_code, unused_imports)]

use gantry_agent::docker::RegistryLogin;
pub use gantry_testkit::sized_images::present;
use gantry_testkit::sized_images::{self, SizedImage};

/// An image in the kit's registry, not on the engine.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Its reference, `127.0.0.1:PORT/gantry-test/disk-…:N`.
    pub reference: String,
    /// Its size on the engine once pulled (`docker image inspect`).
    pub size: u64,
    /// What the agent estimates a pull of it takes.
    pub needs: u64,
}

/// The kit's registry and its login; `None` where it does not run.
pub fn registry_login() -> Option<((String, String, String), RegistryLogin)> {
    let registry = gantry_testkit::registry()?;
    let login = RegistryLogin {
        registry: registry.0.clone(),
        login: registry.1.clone(),
        password: registry.2.clone(),
    };
    Some((registry, login))
}

/// Builds the test image with `mb` MB on top as `name`, pushes it to the
/// registry and removes it from the engine.
pub async fn build_and_push(
    registry: &(String, String, String),
    login: &RegistryLogin,
    name: &str,
    mb: usize,
) -> Pushed {
    let registry = registry.clone();
    let name = name.to_owned();
    let SizedImage { reference, size } =
        tokio::task::spawn_blocking(move || sized_images::build_and_push(&registry, &name, mb))
            .await
            .unwrap();
    let needs = gantry_agent::disk::estimate::image_needs(&reference, std::slice::from_ref(login))
        .await
        .expect("the registry gives the image's size");
    Pushed {
        reference,
        size,
        needs,
    }
}

/// A budget of `max_bytes` alone (no share of the disk, no free space kept).
pub fn only_bytes(max_bytes: u64) -> gantry_agent::disk::DiskBudget {
    gantry_agent::disk::DiskBudget {
        max_bytes: Some(max_bytes),
        max_percent: None,
        min_free_bytes: None,
    }
}

/// Removes the images a test pushed, from the engine (the registry's copies stay).
pub fn forget(images: &[&Pushed]) {
    for image in images {
        sized_images::remove(&image.reference);
    }
}

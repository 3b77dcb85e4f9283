//! What an image will take on the disk once pulled, estimated before the
//! pull from its registry's manifest.
//!
//! The manifest lists each layer's compressed size: what the pull
//! downloads. Unpacked, the layers take more: typical images (binaries,
//! libraries, Python packages) unpack to about 2 to 3 times their compressed
//! size, and data already compressed to about the same. The estimate is
//! twice the download, which is close for most images, over by up to half
//! for incompressible ones and may fall short by a third for text-heavy
//! ones. It errs at the pull only: once pulled the engine's own size counts,
//! and the budget is kept again. Layers the machine has already are not
//! subtracted (the registry's digests are of the compressed layers, the
//! engine's of the unpacked ones), so an image sharing its base with one
//! already here is estimated high.
//!
//! A registry that cannot be asked (offline, a login it refuses) gives no
//! estimate: the pull goes ahead, and the budget is kept right after it.

use gantry_client::registry::{RegistryAuth, image_download_size};

use crate::docker::{RegistryLogin, registry_of};

/// How much larger an image is unpacked than downloaded, as estimated.
pub const UNPACK_FACTOR: u64 = 2;

/// The estimated bytes `image` takes once pulled; `None` when its registry
/// could not say.
pub async fn image_needs(image: &str, logins: &[RegistryLogin]) -> Option<u64> {
    let registry = registry_of(image);
    let auth = logins
        .iter()
        .find(|l| l.registry == registry)
        .map(|l| RegistryAuth {
            user: l.login.clone(),
            password: l.password.clone(),
        });
    match image_download_size(image, auth.as_ref()).await {
        Ok(download) => Some(download.saturating_mul(UNPACK_FACTOR)),
        Err(error) => {
            tracing::info!(%error, "disk budget: no estimate before the pull; the budget is kept after it");
            None
        }
    }
}

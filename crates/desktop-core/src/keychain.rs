//! The node token in the OS keychain (the Secret Service on Linux), and only
//! there: never a file, never the webview.
//!
//! A store is opened for each use rather than once: a keychain that was
//! locked or missing when the app started may be fixed while it runs, and the
//! wizard's "try again" must then work.

use std::collections::HashMap;
use std::sync::Arc;

use gantry_client::Token;
use keyring_core::api::CredentialStoreApi;
use keyring_core::{Entry, Error};

/// The keychain's service name for Gantry's items.
const SERVICE: &str = "gantry";

/// Why the keychain cannot be used, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    /// No Secret Service answered (no session bus, no keyring daemon).
    #[error(
        "Gantry keeps the token in the system keychain, and none answered ({0}); \
         install and start a keyring (GNOME Keyring or KWallet; on a server, use `gantry agent start` with a token file instead), then try again"
    )]
    Unavailable(String),
    /// The keychain is locked and nothing could unlock it.
    #[error(
        "the system keychain is locked ({0}); unlock it (open \"Passwords and Keys\" and unlock the Login keyring, or log out and in again), then try again"
    )]
    Locked(String),
    /// Anything else the store said.
    #[error("the system keychain failed: {0}")]
    Failed(String),
}

impl From<Error> for KeychainError {
    fn from(error: Error) -> KeychainError {
        match error {
            Error::NoStorageAccess(cause) => KeychainError::Locked(cause.to_string()),
            Error::NoDefaultStore => KeychainError::Unavailable("no keychain store".into()),
            Error::PlatformFailure(cause) => KeychainError::Unavailable(cause.to_string()),
            other => KeychainError::Failed(other.to_string()),
        }
    }
}

/// The keychain item for the token of the hub at `server`.
fn entry(server: &str) -> Result<Entry, KeychainError> {
    let store = zbus_secret_service_keyring_store::Store::new()?;
    let label = format!("Gantry node token for {server}");
    let modifiers = HashMap::from([("label", label.as_str())]);
    let store: Arc<zbus_secret_service_keyring_store::Store> = store;
    Ok(store.build(SERVICE, server, Some(&modifiers))?)
}

/// Whether the keychain can be used now: a store answers and an item can be
/// looked up. A locked keychain shows itself only when written to, so the
/// wizard's save is the final word.
pub fn check() -> Result<(), KeychainError> {
    match entry("gantry-keychain-check")?.get_password() {
        Ok(_) | Err(Error::NoEntry) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Keeps the token for `server`, replacing any earlier one.
pub fn save(server: &str, token: &Token) -> Result<(), KeychainError> {
    Ok(entry(server)?.set_password(token.expose())?)
}

/// The token kept for `server`, if any.
pub fn load(server: &str) -> Result<Option<Token>, KeychainError> {
    match entry(server)?.get_password() {
        Ok(token) => Ok(Some(Token::new(token))),
        Err(Error::NoEntry) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

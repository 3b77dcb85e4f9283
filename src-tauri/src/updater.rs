//! The app's own updates, through Tauri's updater plugin: the update server
//! answers a manifest (`latest.json`: version, notes, a download and its
//! minisign signature per platform); a newer version is announced once with a
//! notification and installed only when the person says so in Settings.
//!
//! Off unless both halves are there: the public key compiled in from
//! `GANTRY_UPDATER_PUBKEY` (a developer build has none) and an update server
//! (`update_endpoint` in desktop.json, or `GANTRY_UPDATE_ENDPOINT`). Without
//! either, no request is ever made. Both are given to the plugin per check,
//! not through tauri.conf.json, because neither is known when it is written.
//! The plugin verifies each download's signature against the key before
//! anything is installed.

use gantry_desktop_core::clock::now_ms;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tauri::{AppHandle, Runtime, Url};
use tauri_plugin_updater::{Update, UpdaterExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use gantry_desktop_core::settings::Settings;
use gantry_desktop_core::view::{
    AvailableUpdate, UiError, UpdateCheck, UpdateProgress, UpdateState, UpdateStep,
};

/// The updater's public key, compiled in: base64 of the minisign public key
/// file, as `tauri signer generate` prints it (build.rs checks its form).
const BUILD_PUBKEY: Option<&str> = option_env!("GANTRY_UPDATER_PUBKEY");

/// The first check waits a little: starting the agent comes first.
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(30);

/// How often the update server is asked.
const CHECK_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

/// How long a check waits for the server (a download has no limit: it may
/// be large on a slow line).
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Download progress goes to the window at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Why an update could not be checked for or installed. Each message is a
/// sentence for the Settings screen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// A developer build: no key was compiled in.
    #[error(
        "This build has no update key, so it cannot update itself; install Gantry from a release package to get updates."
    )]
    NoKey,
    /// No update server is set.
    #[error("No update server is set; enter its address under Update server.")]
    NoEndpoint,
    /// The address does not parse.
    #[error(
        "\"{0}\" is not a web address; enter the address of the update server's manifest, e.g. https://updates.example.com/gantry/latest.json."
    )]
    BadAddress(String),
    /// Plain http to another computer.
    #[error(
        "The update server's address must start with https:// (http:// is accepted only to this computer: 127.0.0.1, ::1 or localhost); \"{0}\" does not."
    )]
    Insecure(String),
    /// The manifest names a plain-http download on another computer.
    #[error(
        "The update server offers the download at {0}, over plain http://; only https:// (or http:// to this computer) is accepted."
    )]
    InsecureDownload(String),
    /// No connection, no DNS, a TLS failure or no answer in time.
    #[error(
        "The update server cannot be reached ({0}); check the network connection and the address, then try again."
    )]
    Unreachable(String),
    /// The server answered, but with an error status (404, say).
    #[error(
        "The update server did not answer with update information (it answered with an error, such as 404 Not Found); check the update server's address."
    )]
    NoRelease,
    /// The answer is not a manifest.
    #[error("The update server's answer is not update information Gantry understands ({0}).")]
    BadManifest(String),
    /// The manifest lists no build for this platform.
    #[error("The update server has no build for this computer (it lists none of {0}).")]
    NoBuild(String),
    /// The download failed (connection, or an error status).
    #[error("The update could not be downloaded ({0}); try again later.")]
    Download(String),
    /// The download does not match its signature under the compiled-in key.
    #[error(
        "The downloaded update is not signed with Gantry's update key, so it was not installed; it may have been damaged or tampered with on the way ({0})."
    )]
    BadSignature(String),
    /// The package could not be installed.
    #[error("The update could not be installed: {0}.")]
    Install(String),
    /// Install was asked with no update found.
    #[error("There is no update to install; check for one first.")]
    NothingToInstall,
    /// The environment fixes the update server.
    #[error("GANTRY_UPDATE_ENDPOINT sets the update server; change it there.")]
    Locked,
    /// Anything else the plugin reports.
    #[error("The update failed: {0}.")]
    Other(String),
}

impl UpdateError {
    /// The stable code the UI may branch on.
    pub fn code(&self) -> &'static str {
        match self {
            UpdateError::NoKey => "no_update_key",
            UpdateError::NoEndpoint => "no_update_server",
            UpdateError::BadAddress(_) => "bad_address",
            UpdateError::Insecure(_) => "insecure_address",
            UpdateError::InsecureDownload(_) => "insecure_download",
            UpdateError::Unreachable(_) => "unreachable",
            UpdateError::NoRelease => "no_release",
            UpdateError::BadManifest(_) => "bad_manifest",
            UpdateError::NoBuild(_) => "no_build",
            UpdateError::Download(_) => "download_failed",
            UpdateError::BadSignature(_) => "bad_signature",
            UpdateError::Install(_) => "install_failed",
            UpdateError::NothingToInstall => "no_update",
            UpdateError::Locked => "locked",
            UpdateError::Other(_) => "update_failed",
        }
    }

    /// The plugin's error in our words; `step` tells a failed check from a
    /// failed download (both are reqwest errors to the plugin).
    fn from_plugin(error: tauri_plugin_updater::Error, step: Step) -> UpdateError {
        use tauri_plugin_updater::Error as E;
        match error {
            E::Minisign(e) => UpdateError::BadSignature(e.to_string()),
            E::Base64(_) | E::SignatureUtf8(_) => {
                UpdateError::BadSignature("the signature is not minisign text in base64".into())
            }
            e @ (E::SignedVersionMismatch { .. } | E::MissingSignedVersion) => {
                UpdateError::BadSignature(e.to_string())
            }
            E::Reqwest(e) if step == Step::Check && e.is_decode() => {
                UpdateError::BadManifest(cause(&e))
            }
            E::Reqwest(e) if e.is_timeout() => UpdateError::Unreachable(format!(
                "no answer within {} seconds",
                CHECK_TIMEOUT.as_secs()
            )),
            E::Reqwest(e) if step == Step::Check => UpdateError::Unreachable(cause(&e)),
            E::Reqwest(e) => UpdateError::Download(cause(&e)),
            E::Network(message) => UpdateError::Download(message),
            E::ReleaseNotFound => UpdateError::NoRelease,
            E::Serialization(e) => UpdateError::BadManifest(e.to_string()),
            E::TargetsNotFound(targets) => UpdateError::NoBuild(targets.join(" or ")),
            E::TargetNotFound(target) => UpdateError::NoBuild(target),
            E::AuthenticationFailed => UpdateError::Install(
                "the administrator's password was not given, so nothing was installed".into(),
            ),
            e if step == Step::Install => UpdateError::Install(e.to_string()),
            e => UpdateError::Other(e.to_string()),
        }
    }
}

impl From<UpdateError> for UiError {
    fn from(error: UpdateError) -> UiError {
        UiError::new(error.code(), error.to_string())
    }
}

/// What the plugin was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Check,
    Download,
    Install,
}

/// The innermost cause of a chain of errors: "Connection refused (os error
/// 111)" rather than reqwest's "error sending request for url (…)".
fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// Checks an update server's address: `https://`, or `http://` to this
/// computer (for testing a release locally). Tauri's `{{target}}`, `{{arch}}`
/// and `{{current_version}}` may stand in it; the plugin fills them in.
pub fn parse_endpoint(text: &str) -> Result<Url, UpdateError> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|_| UpdateError::BadAddress(text.to_owned()))?;
    if !secure_enough(&url) {
        return Err(UpdateError::Insecure(text.to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UpdateError::BadAddress(text.to_owned()));
    }
    Ok(url)
}

/// `https://`, or `http://` that never leaves this computer.
fn secure_enough(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => is_loopback(url),
        _ => false,
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // IPv6 hosts come bracketed.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Registers the updater plugin. It answers no command of the window's
/// (capabilities/main.json grants none of its permissions): the UI goes
/// through Gantry's own commands.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R, tauri_plugin_updater::Config> {
    tauri_plugin_updater::Builder::new().build()
}

/// Gives the plugin the configuration it must read at start (it refuses to
/// start without `plugins.updater`). The key and the server come with each
/// check instead; which addresses are secure enough is decided by
/// [`parse_endpoint`], since the plugin alone would refuse `http://` to
/// loopback in a release build.
pub fn configure<R: Runtime>(context: &mut tauri::Context<R>) {
    context.config_mut().plugins.0.insert(
        "updater".into(),
        serde_json::json!({
            "pubkey": "",
            "dangerousInsecureTransportProtocol": true,
        }),
    );
}

/// The updates' state: the key, the server, what the last check found.
/// Checks and installs take turns.
pub struct Updates {
    pubkey: Option<String>,
    state: Mutex<State>,
    /// One check or install at a time.
    busy: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Updates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updates")
            .field("has_key", &self.pubkey.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    endpoint: Option<String>,
    endpoint_locked: bool,
    last_check: Option<UpdateCheck>,
    /// The plugin's handle on the newer version found, to download it.
    available: Option<Update>,
    installing: bool,
    /// The version a notification was shown (or Settings was open) for:
    /// each version is announced once.
    announced: Option<String>,
}

impl Updates {
    /// The updates as this build and the settings (the environment first) say.
    pub fn from_settings(settings: &Settings) -> Arc<Updates> {
        let (endpoint, locked) = settings.update_endpoint(&|name| std::env::var(name).ok());
        Updates::new(BUILD_PUBKEY.map(str::to_owned), endpoint, locked)
    }

    /// The updates with `pubkey` (base64 of a minisign public key file;
    /// `None` or empty: updates are off) and an update server.
    pub fn new(
        pubkey: Option<String>,
        endpoint: Option<String>,
        endpoint_locked: bool,
    ) -> Arc<Updates> {
        Arc::new(Updates {
            pubkey: pubkey
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty()),
            state: Mutex::new(State {
                endpoint,
                endpoint_locked,
                ..State::default()
            }),
            busy: tokio::sync::Mutex::new(()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("updates poisoned")
    }

    /// What Settings shows; `current_version` is the app's.
    pub fn view(&self, current_version: String) -> UpdateState {
        let state = self.state();
        UpdateState {
            current_version,
            has_key: self.pubkey.is_some(),
            endpoint: state.endpoint.clone(),
            endpoint_locked: state.endpoint_locked,
            last_check: state.last_check.clone(),
            available: state.available.as_ref().map(available),
            installing: state.installing,
        }
    }

    /// Whether checks are made: a key and a server.
    pub fn enabled(&self) -> bool {
        self.pubkey.is_some() && self.state().endpoint.is_some()
    }

    /// Checks an address typed in Settings; what to keep (`None` for an
    /// empty field: updates off).
    pub fn prepare_endpoint(&self, text: &str) -> Result<Option<String>, UpdateError> {
        if self.state().endpoint_locked {
            return Err(UpdateError::Locked);
        }
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        parse_endpoint(text)?;
        Ok(Some(text.to_owned()))
    }

    /// Uses a new update server (kept in the settings by the caller): what
    /// the old one said is forgotten. The schedule asks it at its next turn;
    /// Settings, where it was typed, asks it at once.
    pub fn use_endpoint(&self, endpoint: Option<String>) {
        let mut state = self.state();
        if state.endpoint != endpoint {
            state.endpoint = endpoint;
            state.last_check = None;
            state.available = None;
        }
    }

    /// Asks the update server whether a newer version exists: it, or `None`
    /// when this one is the newest. The result is kept for Settings.
    pub async fn check<R: Runtime>(
        &self,
        app: &AppHandle<R>,
    ) -> Result<Option<AvailableUpdate>, UpdateError> {
        let _turn = self.busy.lock().await;
        let key = self.pubkey.clone().ok_or(UpdateError::NoKey)?;
        let endpoint = self
            .state()
            .endpoint
            .clone()
            .ok_or(UpdateError::NoEndpoint)?;
        let result = match parse_endpoint(&endpoint) {
            Ok(url) => ask(app, key, url).await,
            Err(error) => Err(error),
        };
        let mut state = self.state();
        // The server changed meanwhile: this answer is about the old one.
        if state.endpoint.as_ref() == Some(&endpoint) {
            state.last_check = Some(UpdateCheck {
                at_ms: now_ms(),
                error: result.as_ref().err().map(ToString::to_string),
            });
            // A failed check says nothing about the update found before.
            if let Ok(found) = &result {
                state.available = found.clone();
            }
        }
        result.map(|found| found.as_ref().map(available))
    }

    /// Whether `version` is news: the first time it is found (by the
    /// schedule or in Settings). Marks it told.
    pub fn first_news(&self, version: &str) -> bool {
        let mut state = self.state();
        if state.announced.as_deref() == Some(version) {
            return false;
        }
        state.announced = Some(version.to_owned());
        true
    }

    /// Downloads the update found by the last check, with its progress, and
    /// verifies its signature (the plugin does, against the key).
    pub async fn download(
        &self,
        on_progress: &mut (dyn FnMut(UpdateProgress) + Send),
    ) -> Result<(Update, Vec<u8>), UpdateError> {
        let update = self
            .state()
            .available
            .clone()
            .ok_or(UpdateError::NothingToInstall)?;
        let mut done = 0u64;
        let mut sent: Option<Instant> = None;
        let bytes = update
            .download(
                |chunk, total| {
                    done += chunk as u64;
                    if sent.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) || Some(done) == total {
                        sent = Some(Instant::now());
                        on_progress(UpdateProgress {
                            step: UpdateStep::Downloading,
                            done_bytes: done,
                            total_bytes: total,
                        });
                    }
                },
                || {},
            )
            .await
            .map_err(|e| UpdateError::from_plugin(e, Step::Download))?;
        Ok((update, bytes))
    }

    /// Downloads, verifies and installs the update found by the last check.
    /// The caller restarts the app afterwards.
    pub async fn install(
        &self,
        mut on_progress: impl FnMut(UpdateProgress) + Send,
    ) -> Result<(), UpdateError> {
        let _turn = self.busy.lock().await;
        self.state().installing = true;
        let result = self.download_and_install(&mut on_progress).await;
        self.state().installing = false;
        result
    }

    async fn download_and_install(
        &self,
        on_progress: &mut (dyn FnMut(UpdateProgress) + Send),
    ) -> Result<(), UpdateError> {
        let (update, bytes) = self.download(on_progress).await?;
        let size = bytes.len() as u64;
        on_progress(UpdateProgress {
            step: UpdateStep::Installing,
            done_bytes: size,
            total_bytes: Some(size),
        });
        tracing::info!(version = %update.version, "installing an update");
        // A package manager may ask for the administrator's password
        // (pkexec): this blocks, so not on the runtime's threads.
        tokio::task::spawn_blocking(move || update.install(bytes))
            .await
            .map_err(|e| UpdateError::Install(e.to_string()))?
            .map_err(|e| UpdateError::from_plugin(e, Step::Install))
    }
}

/// One request to the update server.
async fn ask<R: Runtime>(
    app: &AppHandle<R>,
    key: String,
    url: Url,
) -> Result<Option<Update>, UpdateError> {
    let mut builder = app.updater_builder().pubkey(key).timeout(CHECK_TIMEOUT);
    if is_loopback(&url) {
        // A proxy from the environment cannot reach this computer's server.
        builder = builder.no_proxy();
    }
    let updater = builder
        .endpoints(vec![url])
        .and_then(|b| b.build())
        .map_err(|e| UpdateError::from_plugin(e, Step::Check))?;
    let found = updater
        .check()
        .await
        .map_err(|e| UpdateError::from_plugin(e, Step::Check))?;
    if let Some(update) = &found
        && !secure_enough(&update.download_url)
    {
        return Err(UpdateError::InsecureDownload(
            update.download_url.to_string(),
        ));
    }
    Ok(found)
}

fn available(update: &Update) -> AvailableUpdate {
    AvailableUpdate {
        version: update.version.clone(),
        notes: update
            .body
            .clone()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        published_ms: update
            .date
            .map(|d| i64::try_from(d.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)),
    }
}

/// Checks a little after the start, then every six hours; a new version
/// raises one notification. Asks nobody while there is no key or no server.
pub fn spawn_schedule(
    app: AppHandle,
    updates: Arc<Updates>,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    let notifications = tracker.clone();
    tracker.spawn(async move {
        let mut wait = FIRST_CHECK_AFTER;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = CHECK_EVERY;
            if !updates.enabled() {
                continue;
            }
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                result = updates.check(&app) => result,
            };
            match result {
                Ok(Some(found)) => {
                    tracing::info!(version = %found.version, "an update is available");
                    if updates.first_news(&found.version) {
                        notifications.spawn(crate::notify::update_available(
                            app.clone(),
                            found.version,
                            stop.clone(),
                        ));
                    }
                }
                Ok(None) => tracing::debug!("no update"),
                // The agent goes on; Settings shows why.
                Err(error) => tracing::warn!(%error, "the update check failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    //! The plugin's real code against a real HTTP server on loopback, with a
    //! throwaway minisign key pair: the same signature format as Tauri's
    //! (base64 of the minisign signature file; base64 of the public key file).

    use std::io::Cursor;

    use axum::Router;
    use axum::routing::get;
    use base64::Engine;
    use tauri::test::MockRuntime;

    use super::*;

    fn base64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// A key pair, as `tauri signer generate` makes one: the public key as
    /// the app takes it, and the secret key to sign with.
    fn keys() -> (String, minisign::SecretKey) {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        (base64(&pair.pk.to_box().unwrap().to_string()), pair.sk)
    }

    /// The `.sig` of `bytes` as Tauri's bundler writes it: the version in
    /// the trusted comment, the whole file in base64.
    fn sign(secret: &minisign::SecretKey, bytes: &[u8], version: &str) -> String {
        let comment = format!("timestamp:1767225600\tfile:gantry-desktop.deb\tversion:{version}");
        let signature =
            minisign::sign(None, secret, Cursor::new(bytes), Some(&comment), None).unwrap();
        base64(&signature.to_string())
    }

    fn manifest(version: &str, url: &str, signature: &str) -> String {
        let mut platforms = serde_json::Map::new();
        platforms.insert(
            tauri_plugin_updater::target().unwrap(),
            serde_json::json!({ "url": url, "signature": signature }),
        );
        serde_json::json!({
            "version": version,
            "notes": "Pause per GPU.\nFaster logs.",
            "pub_date": "2026-05-01T12:00:00Z",
            "platforms": platforms,
        })
        .to_string()
    }

    /// A mock app with the updater plugin registered as main.rs does.
    fn app() -> tauri::App<MockRuntime> {
        let mut context = tauri::test::mock_context(tauri::test::noop_assets());
        configure(&mut context);
        tauri::test::mock_builder()
            .plugin(plugin())
            .build(context)
            .unwrap()
    }

    /// An update server on 127.0.0.1 with a newer release (at the URL with
    /// Tauri's placeholders filled in), the current one, and a newer one
    /// whose download was changed after it was signed.
    async fn server(
        app: &tauri::App<MockRuntime>,
        secret: &minisign::SecretKey,
    ) -> (String, Vec<u8>) {
        let current = app.package_info().version.clone();
        let mut newer = current.clone();
        newer.minor += 1;
        newer.patch = 0;
        let (newer, current) = (newer.to_string(), current.to_string());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let artifact: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut tampered = artifact.clone();
        tampered[100_000] ^= 1;
        let signature = sign(secret, &artifact, &newer);
        let (os, arch) = tauri_plugin_updater::target()
            .unwrap()
            .split_once('-')
            .map(|(os, arch)| (os.to_owned(), arch.to_owned()))
            .unwrap();
        let routes = Router::new()
            .route(
                &format!("/{os}/{arch}/{current}/latest.json"),
                get(manifest(&newer, &format!("{base}/gantry.deb"), &signature)),
            )
            .route(
                "/same.json",
                get(manifest(
                    &current,
                    &format!("{base}/gantry.deb"),
                    &sign(secret, &artifact, &current),
                )),
            )
            .route(
                "/tampered.json",
                get(manifest(
                    &newer,
                    &format!("{base}/tampered.deb"),
                    &signature,
                )),
            )
            .route("/gantry.deb", get(artifact.clone()))
            .route("/tampered.deb", get(tampered));
        tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
        (base, artifact)
    }

    #[tokio::test]
    async fn finds_a_newer_version_with_its_notes_and_downloads_it_verified() {
        let app = app();
        let (pubkey, secret) = keys();
        let (base, artifact) = server(&app, &secret).await;
        let version = app.package_info().version.to_string();

        // Tauri's placeholders are filled in: the server answers only there.
        let endpoint =
            format!("{base}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}/latest.json");
        let updates = Updates::new(Some(pubkey.clone()), Some(endpoint), false);
        assert!(updates.enabled());
        let found = updates
            .check(app.handle())
            .await
            .unwrap()
            .expect("an update");
        assert_ne!(found.version, version);
        assert_eq!(found.notes.as_deref(), Some("Pause per GPU.\nFaster logs."));
        assert_eq!(found.published_ms, Some(1_777_636_800_000));
        let state = updates.view(version.clone());
        assert_eq!(state.available, Some(found));
        assert_eq!(state.last_check.unwrap().error, None);

        let mut progress = Vec::new();
        let (_, bytes) = updates
            .download(&mut |p: UpdateProgress| progress.push(p))
            .await
            .unwrap();
        assert_eq!(bytes, artifact, "downloaded and verified");
        let last = progress.last().unwrap();
        assert_eq!(last.step, UpdateStep::Downloading);
        assert_eq!(last.done_bytes, artifact.len() as u64);
        assert_eq!(
            last.total_bytes,
            Some(artifact.len() as u64),
            "bytes of total"
        );

        // The same version: up to date.
        let same = Updates::new(Some(pubkey), Some(format!("{base}/same.json")), false);
        assert_eq!(same.check(app.handle()).await.unwrap(), None);
        let state = same.view(version);
        assert_eq!(state.available, None);
        assert_eq!(state.last_check.unwrap().error, None, "up to date");
        assert!(matches!(
            same.download(&mut |_| {}).await,
            Err(UpdateError::NothingToInstall)
        ));
    }

    #[tokio::test]
    async fn a_changed_download_or_another_key_fails_the_signature_check() {
        let app = app();
        let (pubkey, secret) = keys();
        let (base, _) = server(&app, &secret).await;

        let updates = Updates::new(Some(pubkey), Some(format!("{base}/tampered.json")), false);
        updates
            .check(app.handle())
            .await
            .unwrap()
            .expect("an update");
        let error = updates.download(&mut |_| {}).await.err().expect("refused");
        assert!(matches!(error, UpdateError::BadSignature(_)), "{error:?}");
        let error = UiError::from(error);
        assert_eq!(error.code, "bad_signature");
        assert!(
            error
                .message
                .starts_with("The downloaded update is not signed with Gantry's update key, so it was not installed"),
            "{}",
            error.message
        );

        // Signed, but not with the key this build carries.
        let (other_key, _) = keys();
        let updates = Updates::new(
            Some(other_key),
            Some(format!(
                "{base}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}/latest.json"
            )),
            false,
        );
        updates
            .check(app.handle())
            .await
            .unwrap()
            .expect("an update");
        let error = updates.download(&mut |_| {}).await.err().expect("refused");
        assert_eq!(UiError::from(error).code, "bad_signature");
    }

    #[tokio::test]
    async fn failures_are_said_and_kept_for_settings() {
        let app = app();
        let (pubkey, secret) = keys();
        let (base, _) = server(&app, &secret).await;
        let version = app.package_info().version.to_string();

        // A 404: no update information there.
        let updates = Updates::new(
            Some(pubkey.clone()),
            Some(format!("{base}/missing.json")),
            false,
        );
        let error = updates.check(app.handle()).await.unwrap_err();
        assert!(matches!(error, UpdateError::NoRelease), "{error:?}");
        let kept = updates
            .view(version.clone())
            .last_check
            .unwrap()
            .error
            .unwrap();
        assert!(kept.contains("404"), "{kept}");

        // Nothing listens.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let updates = Updates::new(
            Some(pubkey.clone()),
            Some(format!("http://127.0.0.1:{port}/latest.json")),
            false,
        );
        let error = UiError::from(updates.check(app.handle()).await.unwrap_err());
        assert_eq!(error.code, "unreachable");
        assert!(
            error
                .message
                .starts_with("The update server cannot be reached ("),
            "{}",
            error.message
        );

        // Plain http to another computer: refused before any request.
        let updates = Updates::new(
            Some(pubkey.clone()),
            Some("http://updates.example.invalid/latest.json".into()),
            false,
        );
        let error = UiError::from(updates.check(app.handle()).await.unwrap_err());
        assert_eq!(error.code, "insecure_address");
        assert!(
            error.message.contains("must start with https://"),
            "{}",
            error.message
        );

        // No key (a developer build) or no server: off, and nothing is asked.
        let updates = Updates::new(None, Some(format!("{base}/same.json")), false);
        assert!(!updates.enabled());
        assert!(!updates.view(version.clone()).has_key);
        assert!(matches!(
            updates.check(app.handle()).await,
            Err(UpdateError::NoKey)
        ));
        assert_eq!(updates.view(version.clone()).last_check, None);
        let updates = Updates::new(Some(pubkey), None, false);
        assert!(!updates.enabled());
        assert!(matches!(
            updates.check(app.handle()).await,
            Err(UpdateError::NoEndpoint)
        ));
    }

    #[test]
    fn the_update_server_must_be_https_or_this_computer() {
        for good in [
            "https://updates.example.com/gantry/latest.json",
            "https://updates.example.com/{{target}}/{{arch}}/{{current_version}}",
            "http://127.0.0.1:8123/latest.json",
            "http://[::1]:8123/latest.json",
            "http://localhost/latest.json",
            "  https://updates.example.com/latest.json?channel=stable  ",
        ] {
            assert!(parse_endpoint(good).is_ok(), "{good}");
        }
        for insecure in [
            "http://updates.example.com/latest.json",
            "http://10.0.0.5/latest.json",
            "http://localhost.example.com/latest.json",
            "ftp://updates.example.com/latest.json",
            "file:///srv/latest.json",
        ] {
            let error = parse_endpoint(insecure).unwrap_err();
            assert_eq!(error.code(), "insecure_address", "{insecure}");
        }
        for bad in ["updates.example.com/latest.json", "https://", "not a url"] {
            let error = parse_endpoint(bad).unwrap_err();
            assert_eq!(error.code(), "bad_address", "{bad}");
        }

        let updates = Updates::new(Some("key".into()), None, false);
        assert_eq!(updates.prepare_endpoint("  ").unwrap(), None, "empty: off");
        assert_eq!(
            UiError::from(
                updates
                    .prepare_endpoint("http://example.com/x")
                    .unwrap_err()
            )
            .code,
            "insecure_address"
        );
        let locked = Updates::new(Some("key".into()), Some("https://a.example".into()), true);
        assert!(matches!(
            locked.prepare_endpoint("https://b.example"),
            Err(UpdateError::Locked)
        ));
    }
}

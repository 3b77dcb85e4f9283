//! HTTPS for the hub: the certificate and key from PEM files, served with
//! rustls on the same port, HTTP/1.1 and HTTP/2 alike (ALPN `h2` and
//! `http/1.1`).
//!
//! Certificates are renewed often (Let's Encrypt: every 60 to 90 days), so
//! the pair is reloadable without a restart: [`ServerCert`] is what rustls
//! asks for the certificate at each handshake, and [`serve_tls`] reloads it
//! on SIGHUP and when either file changes (size or modification time,
//! looked at every [`POLL_EVERY`]). A new pair that does not load (half
//! written, key not matching) leaves the old one serving, and the log says
//! why; open connections keep the certificate they began with.
//!
//! Only rustls's ring provider is used, the one the clients (reqwest) and
//! the database driver (sqlx) already link: no second crypto library.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Hub;

/// How often the certificate and key files are looked at for a change.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// The longest a client may take over its TLS handshake.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(15);

/// How long open connections get to finish when the hub stops. Requests end
/// at once (long-polls and log streams watch the hub's stopping token); this
/// bounds a client that does not answer HTTP/2's closing handshake.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Why a certificate and key could not be loaded; each names the file to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} file {path}: {error}")]
    Read {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why (said in the message, so not also a source).
        error: io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error(
        "{0} holds no PEM certificate (a \"-----BEGIN CERTIFICATE-----\" block); --tls-cert takes the certificate chain in PEM, the server's certificate first"
    )]
    NoCertificate(PathBuf),
    /// The key file holds no PEM private key.
    #[error(
        "{0} holds no PEM private key (e.g. \"-----BEGIN PRIVATE KEY-----\"); --tls-key takes the certificate's private key in PEM (PKCS#8, PKCS#1 or SEC1)"
    )]
    NoKey(PathBuf),
    /// The key cannot sign, or is not the certificate's.
    #[error("the private key in {key} does not fit the certificate in {cert}: {detail}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        detail: String,
    },
}

/// Where the hub's certificate chain and private key are, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the hub's own certificate first.
    pub cert: PathBuf,
    /// The private key of that certificate.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads and checks the pair: both are PEM, and the key is the certificate's.
    pub fn load(&self) -> Result<CertifiedKey, TlsError> {
        let cert_pem = read(&self.cert, "certificate")?;
        let key_pem = read(&self.key, "key")?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|chain| !chain.is_empty())
            .ok_or_else(|| TlsError::NoCertificate(self.cert.clone()))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|_| TlsError::NoKey(self.key.clone()))?;
        CertifiedKey::from_der(chain, key, &provider()).map_err(|error| TlsError::Mismatch {
            cert: self.cert.clone(),
            key: self.key.clone(),
            detail: match error {
                rustls::Error::InconsistentKeys(_) => {
                    "the key is not the one the certificate was made for".to_owned()
                }
                other => other.to_string(),
            },
        })
    }

    /// The files' sizes and modification times, to notice a replacement.
    fn stamp(&self) -> Option<[(u64, SystemTime); 2]> {
        let one = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        };
        Some([one(&self.cert)?, one(&self.key)?])
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.to_owned(),
        error,
    })
}

/// The ring provider, the one crypto library in the build.
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The hub's certificate, handed to rustls at each handshake and replaced in
/// place when the files are renewed.
#[derive(Debug)]
pub struct ServerCert {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCert {
    /// Loads the pair; an error names the file to fix.
    pub fn load(files: TlsFiles) -> Result<ServerCert, TlsError> {
        let current = RwLock::new(Arc::new(files.load()?));
        Ok(ServerCert { files, current })
    }

    /// Loads the files again and serves them from the next handshake on; on
    /// an error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(self.files.load()?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The rustls settings: this certificate, HTTP/2 and HTTP/1.1 offered.
    fn server_config(self: &Arc<Self>) -> Result<ServerConfig, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Serves the hub over HTTPS on `listener` until `shutdown` resolves, as
/// [`crate::serve`] does over HTTP (open requests end at once, the
/// background check stops), reloading `cert` on SIGHUP and when its files
/// change.
pub async fn serve_tls(
    listener: TcpListener,
    hub: Hub,
    cert: Arc<ServerCert>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let config = cert.server_config().map_err(io::Error::other)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    crate::serve_with(hub, shutdown, move |app, stopping, tracker| {
        tracker.spawn(watch(cert, stopping.clone()));
        // Requests say they came over HTTPS, so the console's cookie is `Secure`.
        let app = app.layer(axum::Extension(crate::api::OverTls));
        accept(listener, app, acceptor, stopping, tracker.clone())
    })
    .await
}

/// Reloads the certificate on SIGHUP and when its files change, until `stopping`.
async fn watch(cert: Arc<ServerCert>, stopping: CancellationToken) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = cert.files.stamp();
    let mut every = tokio::time::interval(POLL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hup = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        let why = tokio::select! {
            _ = stopping.cancelled() => return,
            _ = hup => "SIGHUP",
            _ = every.tick() => {
                let now = cert.files.stamp();
                if now == seen {
                    continue;
                }
                seen = now;
                "the files changed"
            }
        };
        match cert.reload() {
            Ok(()) => tracing::info!(
                cert = %cert.files.cert.display(),
                "TLS certificate reloaded ({why})"
            ),
            Err(error) => tracing::warn!(
                "the TLS certificate was not reloaded ({why}), the previous one stays in use: {error}"
            ),
        }
    }
}

/// Accepts connections until `stopping`, each handshake and connection in a
/// tracked task, then lets open connections finish their requests, for
/// [`CLOSE_WITHIN`] at most.
async fn accept(
    listener: TcpListener,
    app: Router,
    acceptor: TlsAcceptor,
    stopping: CancellationToken,
    tracker: TaskTracker,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let abandon = CancellationToken::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let tcp = tokio::select! {
            _ = stopping.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let stop = stopping.clone();
        let abandoned = abandon.clone();
        tracker.spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(tcp));
            let stream = tokio::select! {
                _ = stop.cancelled() => return,
                done = handshake => match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "a TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                },
            };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = abandoned.cancelled() => {}
                served = watcher.watch(connection) => if let Err(error) = served {
                    tracing::debug!(%error, "a connection ended with an error");
                },
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(CLOSE_WITHIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("closing the connections that did not finish in time");
        abandon.cancel();
    }
    Ok(())
}

//! `gantry hub …`: serve the hub and administer its nodes and tokens.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use gantry_hub::{Hub, HubConfig, SystemClock};

/// The address `hub serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8750";
/// The hub address task commands use by default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8750";

/// Where the hub keeps its records.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The hub's data folder: its SQLite database and blobs [default: ~/.local/share/gantry/hub].
    #[arg(long, env = "GANTRY_HUB_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A database URL instead of the SQLite file, e.g. postgres://gantry@localhost/gantry.
    #[arg(
        long,
        env = "GANTRY_HUB_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    db: Option<String>,
}

impl StoreArgs {
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(gantry_hub::default_data_dir)
    }

    async fn open(&self, config: HubConfig) -> anyhow::Result<Hub> {
        let data_dir = self.data_dir();
        Hub::open(&data_dir, self.db.as_deref(), config, Arc::new(SystemClock))
            .await
            .with_context(|| format!("cannot open the hub's records in {}", data_dir.display()))
    }
}

/// Arguments of `gantry hub serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, env = "GANTRY_HUB_LISTEN", default_value = DEFAULT_LISTEN, value_name = "ADDR")]
    listen: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Seconds without a heartbeat after which a node is offline and its running tasks lost.
    #[arg(
        long,
        env = "GANTRY_HUB_OFFLINE_AFTER",
        default_value_t = 90,
        value_name = "SECS"
    )]
    offline_after: u64,
    /// Seconds between the heartbeats agents are asked to send.
    #[arg(
        long,
        env = "GANTRY_HUB_HEARTBEAT",
        default_value_t = 10,
        value_name = "SECS"
    )]
    heartbeat: u64,
    /// Serve HTTPS with this certificate chain (PEM, the hub's certificate
    /// first); needs --tls-key. Reloaded on SIGHUP or when the file changes.
    #[arg(long, env = "GANTRY_HUB_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "GANTRY_HUB_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Hours a web console sign-in lasts before the browser must sign in again
    /// (signing out, or revoking the admin token it used, ends it sooner).
    #[arg(
        long,
        env = "GANTRY_HUB_SESSION_HOURS",
        default_value_t = 12,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..=8760)
    )]
    session_hours: u64,
    #[command(flatten)]
    metrics: crate::metrics_args::HubMetricsArgs,
}

impl ServeArgs {
    /// The certificate to serve HTTPS with, when both files are given.
    fn tls(&self) -> anyhow::Result<Option<gantry_hub::tls::ServerCert>> {
        let files = match (&self.tls_cert, &self.tls_key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => gantry_hub::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            },
            (Some(_), None) => bail!(
                "--tls-cert needs --tls-key (GANTRY_HUB_TLS_KEY) too: the certificate's private key"
            ),
            (None, Some(_)) => bail!(
                "--tls-key needs --tls-cert (GANTRY_HUB_TLS_CERT) too: the certificate chain it belongs to"
            ),
        };
        Ok(Some(gantry_hub::tls::ServerCert::load(files)?))
    }
}

/// `gantry hub serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _guard = gantry_logging::init(&gantry_logging::Logging {
        filter_var: "RUST_LOG",
        default_filter: "info,sqlx=warn",
        file: None,
    });
    if args.offline_after <= args.heartbeat {
        bail!(
            "--offline-after ({}s) must be longer than --heartbeat ({}s), or every node would flap offline",
            args.offline_after,
            args.heartbeat
        );
    }
    let config = HubConfig {
        offline_after: Duration::from_secs(args.offline_after),
        heartbeat: Duration::from_secs(args.heartbeat),
        session_for: Duration::from_secs(args.session_hours * 3600),
        metrics_token: args.metrics.token()?,
        ..HubConfig::default()
    };
    // Checked before the database opens: a wrong file is the first thing to say.
    let tls = args.tls()?;
    let hub = args.store.open(config).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another hub running there?",
                args.listen
            )
        })?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    // Scripts and tests read this line to learn the port; it is the only thing on stdout.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{address}");
    std::io::stdout().flush().ok();
    // For a person: where to open the console (stderr, so stdout stays one line).
    eprintln!("{}", console_line(scheme, address));
    tracing::info!(%address, data_dir = %args.store.data_dir().display(), "hub started");
    match tls {
        Some(cert) => {
            gantry_hub::tls::serve_tls(listener, hub, Arc::new(cert), crate::shutdown_signal())
                .await
        }
        None => gantry_hub::serve(listener, hub, crate::shutdown_signal()).await,
    }
    .context("the hub's server failed")?;
    tracing::info!("hub stopped");
    Ok(ExitCode::SUCCESS)
}

/// Where a person opens the web console of a hub listening on `address`: a
/// hub on every address (0.0.0.0, ::) is reached on this machine at loopback.
fn console_line(scheme: &str, address: std::net::SocketAddr) -> String {
    if !gantry_hub::has_console() {
        return "console: not in this build (build it with `npm ci && npm run build` in ui/, then \
                rebuild gantry; `cargo xtask run` does both)"
            .into();
    }
    let mut shown = address;
    if address.ip().is_unspecified() {
        shown.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!(
        "console: {scheme}://{shown}/ (sign in with an admin token: gantry hub token create --admin NAME)"
    )
}

/// `gantry hub node add`.
pub async fn add_node(
    name: &str,
    labels: &[String],
    store: &StoreArgs,
) -> anyhow::Result<ExitCode> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        bail!("the node name must be non-empty printable text, e.g. the machine's host name");
    }
    for label in labels {
        if let Some(problem) = gantry_protocol::job::label_problem(label) {
            bail!("--label {label}: {problem}");
        }
    }
    let hub = store.open(HubConfig::default()).await?;
    let token = hub
        .db()
        .add_node(name, labels, hub.now())
        .await
        .context("cannot add the node")?;
    hub.db().close().await;
    println!("{token}");
    eprintln!(
        "Node \"{name}\" added. Its token is shown only once: give it to the agent (ACCESS_TOKEN)."
    );
    Ok(ExitCode::SUCCESS)
}

/// `gantry hub token create --admin`.
pub async fn create_admin_token(name: &str, store: &StoreArgs) -> anyhow::Result<ExitCode> {
    if name.trim().is_empty() {
        bail!("--admin needs a name for the token's holder, e.g. --admin alice");
    }
    // The rule the hub's POST /v1/tokens keeps, so both make the same names.
    if let Some(problem) = gantry_protocol::console::token_name_problem(name) {
        bail!("--admin {name:?}: {problem}");
    }
    let hub = store.open(HubConfig::default()).await?;
    let token = hub
        .db()
        .create_admin_token(name, hub.now())
        .await
        .context("cannot create the token")?;
    hub.db().close().await;
    println!("{token}");
    eprintln!(
        "Admin token for \"{name}\" created. It is shown only once: keep it (GANTRY_ADMIN_TOKEN)."
    );
    Ok(ExitCode::SUCCESS)
}

//! The hub over the network: whether it answers (and takes the node's
//! token), TLS and the CA file, the proxy requests go through, and this
//! clock's skew against the hub's.
//!
//! One health call (`GET /v1/health`, no token) answers the first three and
//! carries the hub's `Date` header for the fourth; the token is then checked
//! with a call that changes nothing ([`HubClient::check_node_token`]). The
//! token is never written into a check.
//!
//! Clock skew: the hub stamps tasks with its own clock, the node stamps
//! what it reports (when it began to yield, GPU-use samples, its log) with
//! this one, so beyond a few seconds those times disagree on the console.
//! Beyond an hour TLS breaks: certificates are checked against this clock,
//! and a CA such as Let's Encrypt dates a new certificate only an hour
//! back, so a clock that far behind refuses the hub's renewed certificate
//! (and one far ahead takes an expired one for valid).

use std::time::Duration;

use gantry_client::{ClientError, HealthProbe, HubClient, ProxyRoute, Token, Trust, in_clear};

use super::{Check, Setup};

/// Skew above this is a warning.
pub const SKEW_WARNING: Duration = Duration::from_secs(5);
/// Skew above this is a failure.
pub const SKEW_FAILURE: Duration = Duration::from_secs(3600);

/// The `hub`, `tls`, `proxy` and `clock` checks.
pub async fn checks(setup: &Setup) -> Vec<Check> {
    let Some(server) = setup.server.clone() else {
        let none = "not checked: no hub is configured";
        return vec![
            Check::warning(
                "hub",
                "no hub is configured, so this node takes no tasks",
                "give the hub's address with --server, GANTRY_SERVER or server in agent.toml \
                 (the desktop app's wizard sets it)",
            ),
            Check::ok("tls", none),
            proxy_check(None, None),
            Check::ok("clock", none),
        ];
    };
    let trust = Trust::with_ca_file(setup.ca_file.clone());
    let token = setup.token.clone().unwrap_or_else(|| Token::new(""));
    let client = match HubClient::with_trust(&server, token, &trust) {
        Ok(client) => client,
        Err(error) => return unusable(&server, &error),
    };
    let probe = client.probe_health().await;
    let hub = match &probe {
        // The agent's rule: no token over plain http beyond this machine
        // unless the person allowed it.
        Ok(probe) if in_clear(&server) && !setup.allow_insecure_http && setup.token.is_some() => {
            Check::warning(
                "hub",
                format!(
                    "a Gantry hub answers at {}, but the node token was not sent to check it: \
                     it would cross the network in clear ({} ms)",
                    client.server(),
                    probe.round_trip.as_millis()
                ),
                "use the hub's https:// address (see the tls check)",
            )
        }
        Ok(probe) => token_check(&client, setup.token.is_some(), probe).await,
        Err(error) => Check::failure(
            "hub",
            // The error's first clause; its advice is the fix.
            error
                .to_string()
                .split("; ")
                .next()
                .unwrap_or_default()
                .to_owned(),
            match error {
                ClientError::Tls { .. } => "fix TLS first (see the tls check)",
                ClientError::NotAHub { .. } => {
                    "give the hub's base address, e.g. https://hub.example.com"
                }
                _ => {
                    "check the address, that the hub runs, and that this machine may reach its port"
                }
            },
        ),
    };
    vec![
        hub,
        tls_check(setup, client.server(), &probe),
        proxy_check(Some(client.server()), Some(&probe)),
        clock_check(&probe),
    ]
}

/// The four checks when no client can even be made (a bad address, a CA
/// file that cannot be used).
fn unusable(server: &str, error: &ClientError) -> Vec<Check> {
    let not_tried = "not checked: the hub could not be called";
    match error {
        ClientError::CaFile { .. } => vec![
            Check::failure(
                "hub",
                format!("the hub at {server} was not called: the CA file cannot be used"),
                "fix the CA file (see the tls check)",
            ),
            Check::failure(
                "tls",
                error.to_string(),
                "give --ca-file (GANTRY_CA_FILE, ca_file in agent.toml) the PEM certificate of \
                 the CA that signed the hub's certificate",
            ),
            proxy_check(Some(server), None),
            Check::warning("clock", not_tried, "fix the hub check first"),
        ],
        _ => vec![
            Check::failure(
                "hub",
                error.to_string(),
                "give the hub's address like https://hub.example.com (--server, GANTRY_SERVER, \
                 server in agent.toml)",
            ),
            Check::warning("tls", not_tried, "fix the hub check first"),
            Check::warning("proxy", not_tried, "fix the hub check first"),
            Check::warning("clock", not_tried, "fix the hub check first"),
        ],
    }
}

/// The `hub` check once the hub answered: the node token, when one is set.
async fn token_check(client: &HubClient, has_token: bool, probe: &HealthProbe) -> Check {
    let answers = format!(
        "a Gantry hub{} answers at {} ({} ms)",
        probe
            .version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        client.server(),
        probe.round_trip.as_millis()
    );
    if !has_token {
        return Check::warning(
            "hub",
            format!("{answers}, but no node token is configured, so this node cannot take tasks"),
            "give the node token from `gantry hub node add` with --token-file, GANTRY_TOKEN \
             or token_file in agent.toml",
        );
    }
    match client.check_node_token().await {
        Ok(()) => Check::ok("hub", format!("{answers}, and it takes this node's token")),
        Err(ClientError::Api { status: 403, body }) => Check::failure(
            "hub",
            format!(
                "{answers}, but the token given is not a node token: {}",
                body.message
            ),
            "give the node token from `gantry hub node add NAME`, not an admin token",
        ),
        Err(ClientError::Api { status: 401, body }) => Check::failure(
            "hub",
            format!(
                "{answers}, but it refuses this node's token: {}",
                body.message
            ),
            "make a new node token with `gantry hub node add NAME` (or rotate it with \
             `gantry node token NAME --rotate`) and give it to this agent",
        ),
        Err(error) => Check::warning(
            "hub",
            format!("{answers}, but the token could not be checked: {error}"),
            "run gantry doctor again; if this stays, look at the hub's log",
        ),
    }
}

/// The `tls` check.
fn tls_check(setup: &Setup, server: &str, probe: &Result<HealthProbe, ClientError>) -> Check {
    const NAME: &str = "tls";
    if server.starts_with("http://") {
        if !in_clear(server) {
            return Check::ok(
                NAME,
                "plain http to this machine: nothing crosses the network",
            );
        }
        return if setup.allow_insecure_http {
            Check::warning(
                NAME,
                format!(
                    "{server} is plain http: the node token crosses the network unencrypted \
                     (allowed by --allow-insecure-http)"
                ),
                "serve the hub over https (gantry hub serve --tls-cert --tls-key) and use https://",
            )
        } else {
            Check::failure(
                NAME,
                format!(
                    "{server} is plain http beyond this machine: the agent refuses to send \
                     its token there in clear"
                ),
                "serve the hub over https and use https://, or allow it with \
                 --allow-insecure-http on a network you trust",
            )
        };
    }
    let trusted_by = match &setup.ca_file {
        Some(file) => format!("the CA file {}", file.display()),
        None => "the system's root certificates".to_owned(),
    };
    match probe {
        Ok(_) => Check::ok(
            NAME,
            format!("the hub's certificate is valid for {server} and trusted by {trusted_by}"),
        ),
        Err(ClientError::Tls { detail, .. }) => Check::failure(
            NAME,
            format!("the hub's certificate at {server} is not trusted by {trusted_by}: {detail}"),
            match &setup.ca_file {
                Some(file) => format!(
                    "replace {} with the PEM certificate of the CA that signed the hub's \
                     certificate, or check that the address's host name is in the certificate",
                    file.display()
                ),
                None => "if your own CA made the hub's certificate, give its PEM file with \
                         --ca-file (GANTRY_CA_FILE, ca_file in agent.toml)"
                    .to_owned(),
            },
        ),
        Err(_) => Check::warning(
            NAME,
            "not checked: the hub could not be reached",
            "fix the hub check first",
        ),
    }
}

/// The `proxy` check: which proxy reqwest uses for the hub, and whether
/// the hub was reached through it.
fn proxy_check(server: Option<&str>, probe: Option<&Result<HealthProbe, ClientError>>) -> Check {
    const NAME: &str = "proxy";
    let env = |name: &str| std::env::var(name).ok();
    let Some(server) = server else {
        return Check::ok(NAME, "not checked: no hub is configured");
    };
    match gantry_client::proxy_for(server, &env) {
        ProxyRoute::Direct => Check::ok(NAME, "no proxy applies: requests go straight to the hub"),
        ProxyRoute::Bypassed {
            variable,
            proxy_variable,
        } => Check::ok(
            NAME,
            format!(
                "{variable} names the hub's host, so requests go straight to it, not through \
                 the proxy in {proxy_variable}"
            ),
        ),
        ProxyRoute::Proxy { variable, address } => {
            let through =
                format!("requests to the hub go through the proxy {address} ({variable})");
            match probe {
                Some(Ok(_)) => Check::ok(NAME, format!("{through}, and it reached the hub")),
                Some(Err(
                    error @ (ClientError::Unreachable { .. } | ClientError::Timeout { .. }),
                )) => Check::failure(
                    NAME,
                    format!("{through}, and the hub was not reached: {error}"),
                    format!(
                        "check that the proxy {address} runs and lets this machine reach the \
                         hub, or add the hub's host to NO_PROXY"
                    ),
                ),
                _ => Check::ok(NAME, through),
            }
        }
    }
}

/// The `clock` check: this clock against the hub's `Date`.
fn clock_check(probe: &Result<HealthProbe, ClientError>) -> Check {
    const NAME: &str = "clock";
    let Ok(probe) = probe else {
        return Check::warning(
            NAME,
            "not checked: the hub did not answer",
            "fix the hub check first",
        );
    };
    let Some(skew) = probe.skew_secs() else {
        return Check::warning(
            NAME,
            "the hub's answer has no Date header, so the skew cannot be told",
            "if a proxy strips it, reach the hub directly (NO_PROXY)",
        );
    };
    // The header counts whole seconds: the hub's time lies within the
    // second it names.
    let skew = skew + 0.5;
    let size = skew.abs();
    let words = format!(
        "this clock is {:.0} s {} the hub's",
        size,
        if skew > 0.0 { "behind" } else { "ahead of" }
    );
    let fix = "turn on time synchronisation on this machine (timedatectl set-ntp true) or on \
               the hub's, whichever is wrong";
    if size > SKEW_FAILURE.as_secs_f64() {
        Check::failure(
            NAME,
            format!(
                "{words}: more than an hour, so TLS certificates are judged by the wrong time \
                 (a renewed certificate looks not yet valid, an expired one valid)"
            ),
            fix,
        )
    } else if size > SKEW_WARNING.as_secs_f64() {
        Check::warning(
            NAME,
            format!(
                "{words}: the times this node reports (yielding, GPU use, logs) disagree with \
                 the hub's"
            ),
            fix,
        )
    } else {
        Check::ok(
            NAME,
            format!(
                "this clock is within {} s of the hub's",
                SKEW_WARNING.as_secs()
            ),
        )
    }
}

//! Which hubs a client believes, and where a token may go.
//!
//! A client trusts the system's root certificates (rustls-native-certs,
//! through reqwest) plus the certificate authorities in a CA file when one
//! is given: a hub whose certificate was made by a team's own CA is reached
//! with `--ca-file` (`GANTRY_CA_FILE`, `ca_file` in agent.toml) instead of
//! by turning verification off, which Gantry never does. Proxies come from
//! the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), as reqwest
//! reads them by default; nothing here turns that off.
//!
//! Tokens travel in an `Authorization` header, so over plain `http://` they
//! can be read by anyone on the path. [`in_clear`] says when an address
//! would do that beyond this machine: the agent refuses it and the CLI
//! warns, unless the person allows it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{ClientError, HubClient, Token};

/// What a client trusts besides the system's root certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    ca_file: Option<PathBuf>,
}

impl Trust {
    /// The system's roots only.
    pub fn system() -> Trust {
        Trust::default()
    }

    /// The system's roots and the CA certificates in `ca_file` (PEM, one or more).
    pub fn with_ca_file(ca_file: Option<PathBuf>) -> Trust {
        Trust { ca_file }
    }

    /// The CA file, when one was given.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The CA file's certificates; an error says which file and what is wrong.
    fn certificates(&self) -> Result<Vec<reqwest::Certificate>, ClientError> {
        let Some(path) = &self.ca_file else {
            return Ok(Vec::new());
        };
        let bad = |detail: String| ClientError::CaFile {
            path: path.display().to_string(),
            detail,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| bad("it is not a PEM certificate".into()))?;
        if certificates.is_empty() {
            return Err(bad(
                "it holds no \"-----BEGIN CERTIFICATE-----\" block".into()
            ));
        }
        Ok(certificates)
    }
}

impl HubClient {
    /// A client of the hub at `server` (e.g. `https://hub.example.com`) that
    /// trusts the system's roots and `trust`'s CA file.
    pub fn with_trust(server: &str, token: Token, trust: &Trust) -> Result<HubClient, ClientError> {
        let trimmed = server.trim().trim_end_matches('/');
        let base = reqwest::Url::parse(&format!("{trimmed}/"))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| ClientError::BadAddress(server.to_owned()))?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")));
        for certificate in trust.certificates()? {
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().map_err(|e| ClientError::Protocol {
            url: server.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(HubClient {
            http,
            base,
            token,
            refusal: std::sync::Arc::new(tokio::sync::watch::channel(None).0),
        })
    }
}

/// Whether a token sent to `server` would cross the network unencrypted:
/// an `http://` address whose host is not this machine (127.0.0.0/8, ::1,
/// localhost). An address that is not a URL is not judged here.
pub fn in_clear(server: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(server.trim()) else {
        return false;
    };
    if url.scheme() != "http" {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    }
}

/// The sentence an agent refuses to start with when [`in_clear`] holds.
pub fn in_clear_refusal(server: &str) -> String {
    format!(
        "refusing to send the node token in clear to {}: use https://, or pass --allow-insecure-http \
         (GANTRY_ALLOW_INSECURE_HTTP=true, allow_insecure_http = true in agent.toml) if this network is trusted",
        server.trim().trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_beyond_this_machine_is_in_clear() {
        for server in [
            "http://10.0.0.2:8750",
            "http://hub.example.com",
            "http://[2001:db8::1]:8750",
            "http://127.0.0.1.example.com",
        ] {
            assert!(in_clear(server), "{server}");
        }
        for server in [
            "https://10.0.0.2:8750",
            "http://127.0.0.1:8750",
            "http://127.3.4.5",
            "http://localhost:8750/",
            "http://LOCALHOST.",
            "http://[::1]:8750",
            "not a url",
        ] {
            assert!(!in_clear(server), "{server}");
        }
        assert!(in_clear_refusal("http://10.0.0.2:8750/").starts_with(
            "refusing to send the node token in clear to http://10.0.0.2:8750: use https://"
        ));
    }

    #[test]
    fn a_ca_file_that_is_missing_or_not_pem_is_named() {
        let dir = std::env::temp_dir().join(format!("gantry-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        for path in [dir.join("missing.pem"), junk] {
            let error = HubClient::with_trust(
                "https://hub.example.com",
                Token::new("t"),
                &Trust::with_ca_file(Some(path.clone())),
            )
            .unwrap_err();
            assert!(matches!(error, ClientError::CaFile { .. }), "{error}");
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{error}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

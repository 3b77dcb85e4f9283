//! Why a hub call failed, in words a person can act on: the hub's own code
//! and sentence when it answered, and plainly "cannot reach" or "not a
//! hub" when it did not, so a wrong address reads differently from a wrong
//! token.

use gantry_protocol::wire::ErrorBody;

/// Why a hub call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The address answered, but not as a Gantry hub.
    #[error(
        "{url} answered, but it is not a Gantry hub ({detail}); check the address: it is the hub's base URL, e.g. https://hub.example.com"
    )]
    NotAHub {
        /// The address tried.
        url: String,
        /// What answered.
        detail: String,
    },
    /// The server address is not a URL.
    #[error(
        "\"{0}\" is not a hub address; write it like http://127.0.0.1:8750 or https://hub.example.com"
    )]
    BadAddress(String),
    /// Nothing answered at the address.
    #[error(
        "cannot reach the hub at {url}: {detail}; check the address and that the hub is running"
    )]
    Unreachable {
        /// The address tried.
        url: String,
        /// What the network said.
        detail: String,
    },
    /// A secure connection could not be set up (certificate, protocol).
    #[error(
        "cannot set up a secure connection to {url}: {detail}; check that the address is right and that the hub's certificate is valid for it, and if your own CA made that certificate, give its CA file (--ca-file, GANTRY_CA_FILE); an http:// hub needs http://, not https://"
    )]
    Tls {
        /// The address tried.
        url: String,
        /// What TLS said.
        detail: String,
    },
    /// The call took longer than allowed.
    #[error("the hub at {url} did not answer in time")]
    Timeout {
        /// The address tried.
        url: String,
    },
    /// The hub answered with an error.
    #[error("{}", .body.message)]
    Api {
        /// The HTTP status.
        status: u16,
        /// The hub's code and sentence.
        body: ErrorBody,
    },
    /// The CA file given to trust a hub's certificate cannot be used.
    #[error(
        "cannot use the CA file {path}: {detail}; give the PEM certificate of the authority that signed the hub's certificate"
    )]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A file on this machine could not be read.
    #[error("{0}")]
    LocalFile(String),
    /// A download stopped before its end (the hub, or the node it relays from, went away).
    #[error("{file}: the download broke off ({detail}); nothing was kept, try again")]
    BrokenOff {
        /// The file that was being written.
        file: String,
        /// What the network said.
        detail: String,
    },
    /// A download's bytes do not hash to the sha256 it was asked for.
    #[error(
        "{file}: the bytes received hash to {actual}, not to {expected}; nothing was kept, download it again"
    )]
    Corrupt {
        /// The file that was being written.
        file: String,
        /// The sha256 asked for.
        expected: String,
        /// The sha256 of what arrived.
        actual: String,
    },
    /// The hub's answer could not be read.
    #[error(
        "the hub at {url} sent an answer Gantry cannot read ({detail}); is this a Gantry hub of a matching version?"
    )]
    Protocol {
        /// The address tried.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

impl ClientError {
    /// The hub's error code, when the hub answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: the network, timeouts and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            // A TLS failure may be a proxy or a certificate being renewed:
            // the agent keeps trying, as for any network failure.
            ClientError::Unreachable { .. }
            | ClientError::Timeout { .. }
            | ClientError::Tls { .. }
            | ClientError::BrokenOff { .. } => true,
            ClientError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Whether `error` is TLS's (rustls's own error, bare or inside I/O
/// errors): a certificate, or an https:// address answered in plain HTTP.
pub(crate) fn is_tls(mut error: &(dyn std::error::Error + 'static)) -> bool {
    // The connector wraps it in I/O errors, sometimes two deep, and an I/O
    // error's `source` skips what it wraps.
    loop {
        if error.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        match error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => error = inner,
            None => return false,
        }
    }
}

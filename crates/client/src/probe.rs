//! What `gantry doctor` asks of a hub's connection, beyond the calls
//! themselves: the hub's public health answer with the time the hub said it
//! was (its HTTP `Date` header) and how long the round trip took, so the
//! skew of this machine's clock can be told; and which proxy reqwest sends
//! the hub's requests through, read from the environment by the rules
//! reqwest (through hyper-util's matcher) follows, since reqwest does not
//! say which one it chose.
//!
//! The health call carries no token; nothing here prints one.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;

use crate::{ClientError, HubClient};

/// The hub's answer to `GET /v1/health`, timed.
#[derive(Debug, Clone)]
pub struct HealthProbe {
    /// The hub's version, as its health answer says.
    pub version: Option<String>,
    /// The hub's clock when it answered (its `Date` header, to the second).
    pub date: Option<SystemTime>,
    /// This machine's clock halfway through the round trip: what `date`
    /// is compared with.
    pub local_midpoint: SystemTime,
    /// How long the call took.
    pub round_trip: Duration,
}

impl HealthProbe {
    /// How far the hub's clock is ahead of this machine's, in seconds
    /// (negative: behind); `None` when the hub sent no readable `Date`.
    pub fn skew_secs(&self) -> Option<f64> {
        let date = self.date?;
        Some(match date.duration_since(self.local_midpoint) {
            Ok(ahead) => ahead.as_secs_f64(),
            Err(behind) => -behind.duration().as_secs_f64(),
        })
    }
}

impl HubClient {
    /// `GET /v1/health` with no token: whether a Gantry hub answers at this
    /// address, and when it says it is. An answer that is not a hub's is
    /// [`ClientError::NotAHub`].
    pub async fn probe_health(&self) -> Result<HealthProbe, ClientError> {
        let url = self
            .base
            .join("v1/health")
            .expect("the health path is a valid URL path");
        let before = SystemTime::now();
        let started = Instant::now();
        let response = self
            .http
            .request(Method::GET, url)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| self.network_error(e))?;
        let round_trip = started.elapsed();
        let status = response.status();
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| httpdate::parse_http_date(text).ok());
        let not_a_hub = |detail: String| ClientError::NotAHub {
            url: self.server().to_owned(),
            detail,
        };
        if !status.is_success() {
            return Err(not_a_hub(format!("/v1/health answered HTTP {status}")));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| not_a_hub(format!("/v1/health did not answer JSON: {e}")))?;
        if body.get("status").and_then(|s| s.as_str()) != Some("ok") {
            return Err(not_a_hub(format!(
                "its /v1/health said {}",
                body.to_string().chars().take(120).collect::<String>()
            )));
        }
        Ok(HealthProbe {
            version: body
                .get("version")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            date,
            local_midpoint: before + round_trip / 2,
            round_trip,
        })
    }
}

/// How requests to the hub leave this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyRoute {
    /// Straight to the hub: no proxy variable applies to its scheme.
    Direct,
    /// Straight to the hub because `NO_PROXY` (or `no_proxy`) names it,
    /// although a proxy is set.
    Bypassed {
        /// The variable that names the hub.
        variable: &'static str,
        /// The proxy variable it overrides.
        proxy_variable: &'static str,
    },
    /// Through a proxy.
    Proxy {
        /// The variable it came from (`HTTPS_PROXY`, `ALL_PROXY`, …).
        variable: &'static str,
        /// The proxy's address, without any user name or password.
        address: String,
    },
}

/// Which proxy reqwest uses for `server`, from the environment `env` reads,
/// by the rules of hyper-util's matcher that reqwest uses: the first of
/// `HTTPS_PROXY`/`https_proxy` that is set for https (`HTTP_PROXY`/
/// `http_proxy` for http), else `ALL_PROXY`/`all_proxy`; none at all when
/// `REQUEST_METHOD` is set (a CGI program); unless `NO_PROXY`/`no_proxy`
/// names the host (a domain and its subdomains, `*` for any name, an IP
/// address or network).
pub fn proxy_for(server: &str, env: &dyn Fn(&str) -> Option<String>) -> ProxyRoute {
    let Ok(url) = reqwest::Url::parse(server.trim()) else {
        return ProxyRoute::Direct;
    };
    if env("REQUEST_METHOD").is_some() {
        return ProxyRoute::Direct;
    }
    // The first variable that is set wins, even when empty or unusable.
    let first = |names: &[&'static str]| {
        names
            .iter()
            .find_map(|name| env(name).map(|v| (*name, v)))
            .filter(|(_, v)| usable_proxy(v))
    };
    let scheme_proxy = match url.scheme() {
        "https" => first(&["HTTPS_PROXY", "https_proxy"]),
        "http" => first(&["HTTP_PROXY", "http_proxy"]),
        _ => return ProxyRoute::Direct,
    };
    let Some((variable, proxy)) = scheme_proxy.or_else(|| first(&["ALL_PROXY", "all_proxy"]))
    else {
        return ProxyRoute::Direct;
    };
    let host = url.host_str().unwrap_or_default();
    let no_proxy = ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|name| env(name).map(|v| (*name, v)));
    if let Some((no_variable, list)) = no_proxy
        && no_proxy_names(&list, host)
    {
        return ProxyRoute::Bypassed {
            variable: no_variable,
            proxy_variable: variable,
        };
    }
    ProxyRoute::Proxy {
        variable,
        address: without_credentials(&proxy),
    }
}

/// Whether a proxy variable's value is one reqwest can use: an address
/// with a host, its scheme http, https, socks4(a), socks5(h) or none.
fn usable_proxy(value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return false;
    }
    match value.split_once("://") {
        Some((scheme, rest)) => {
            matches!(
                scheme.to_ascii_lowercase().as_str(),
                "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h"
            ) && !rest.is_empty()
        }
        None => true,
    }
}

/// Whether a `NO_PROXY` list names `host`: an IP host only by an address or
/// network entry, a name by a domain entry (itself and its subdomains) or `*`.
fn no_proxy_names(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).any(|entry| {
        if entry.is_empty() {
            return false;
        }
        match ip {
            Some(ip) => in_network(entry, ip),
            None if entry == "*" => true,
            None => {
                let domain = entry.trim_start_matches('.').to_ascii_lowercase();
                let host = host.to_ascii_lowercase();
                host == domain || host.ends_with(&format!(".{domain}"))
            }
        }
    })
}

/// Whether `ip` is the address or within the network (`ADDR/BITS`) `entry` names.
fn in_network(entry: &str, ip: IpAddr) -> bool {
    let (address, bits) = match entry.split_once('/') {
        Some((address, bits)) => (address, bits.parse::<u32>().ok()),
        None => (entry, None),
    };
    let Ok(network) = address
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// A proxy's address to show: scheme, host and port, no user or password.
fn without_credentials(proxy: &str) -> String {
    let text = if proxy.contains("://") {
        proxy.to_owned()
    } else {
        format!("http://{proxy}")
    };
    match reqwest::Url::parse(&text) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => "an address that is not a URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(server: &str, vars: &[(&str, &str)]) -> ProxyRoute {
        proxy_for(server, &|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_schemes_variable_then_all_proxy_applies() {
        assert_eq!(route("https://hub.example.com", &[]), ProxyRoute::Direct);
        assert_eq!(
            route(
                "https://hub.example.com",
                &[("HTTP_PROXY", "http://p:1"), ("all_proxy", "http://a:2")]
            ),
            ProxyRoute::Proxy {
                variable: "all_proxy",
                address: "http://a:2".into()
            }
        );
        assert_eq!(
            route(
                "https://hub.example.com",
                &[("https_proxy", "http://user:secret@p:3128")]
            ),
            ProxyRoute::Proxy {
                variable: "https_proxy",
                address: "http://p:3128".into()
            }
        );
        assert_eq!(
            route(
                "http://hub.example.com",
                &[("HTTP_PROXY", "p:8080"), ("REQUEST_METHOD", "GET")]
            ),
            ProxyRoute::Direct
        );
        // The first variable set wins, even when it is empty.
        assert_eq!(
            route(
                "https://hub.example.com",
                &[("HTTPS_PROXY", ""), ("https_proxy", "http://p:1")]
            ),
            ProxyRoute::Direct
        );
    }

    #[test]
    fn no_proxy_matches_domains_addresses_and_networks() {
        let bypassed = |server: &str, list: &str| {
            matches!(
                route(server, &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", list)]),
                ProxyRoute::Bypassed { .. }
            )
        };
        assert!(bypassed("https://hub.example.com", "example.com"));
        assert!(bypassed(
            "https://hub.example.com",
            "other.org, .example.com"
        ));
        assert!(bypassed("https://Hub.Example.com", "hub.example.com"));
        assert!(!bypassed("https://notexample.com", "example.com"));
        assert!(bypassed("https://10.1.2.3:8750", "10.0.0.0/8"));
        assert!(!bypassed("https://11.1.2.3:8750", "10.0.0.0/8"));
        assert!(bypassed("https://127.0.0.1:8750", "127.0.0.1"));
        assert!(bypassed("https://[::1]:8750", "::1"));
        assert!(bypassed("https://anything", "*"));
        // As in reqwest: `*` names every host name, but no IP address.
        assert!(!bypassed("https://10.1.2.3", "*"));
        assert!(!bypassed("https://anything", ""));
    }
}

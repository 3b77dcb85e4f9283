//! `--metrics-listen ADDR` through the layers (flag > GANTRY_METRICS_LISTEN >
//! agent.toml `metrics_listen`): where the agent serves its Prometheus
//! metrics ([`crate::metrics`]), if anywhere.

use std::net::SocketAddr;

use super::{ConfigError, Layers};

impl Layers<'_> {
    /// The address to serve `/metrics` on; `None`: no metrics page.
    pub(super) fn metrics_listen(
        &self,
        flag: Option<String>,
    ) -> Result<Option<SocketAddr>, ConfigError> {
        let (from, text) = match (flag, self.var(&["GANTRY_METRICS_LISTEN"])) {
            (Some(text), _) => ("--metrics-listen", text),
            (None, Some((name, text))) => (name, text),
            (None, None) => match &self.file.metrics_listen {
                Some(text) => ("metrics_listen in agent.toml", text.clone()),
                None => return Ok(None),
            },
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| {
            ConfigError(format!(
                "{from} {text:?} is not an address to listen on; write IP:PORT, e.g. 127.0.0.1:9101 \
                 (0.0.0.0:9101 serves every network, without a token)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{AgentConfig, Flags};

    fn resolve(flag: Option<&str>, env: Option<&str>) -> Result<AgentConfig, String> {
        let env = env.map(str::to_owned);
        AgentConfig::resolve(
            Flags {
                metrics_listen: flag.map(str::to_owned),
                ..Flags::default()
            },
            &move |name| env.clone().filter(|_| name == "GANTRY_METRICS_LISTEN"),
            None,
        )
        .map_err(|e| e.0)
    }

    #[test]
    fn the_flag_beats_the_variable_and_bad_addresses_are_refused() {
        assert_eq!(resolve(None, None).unwrap().metrics_listen, None);
        assert_eq!(
            resolve(None, Some("127.0.0.1:9101"))
                .unwrap()
                .metrics_listen,
            Some("127.0.0.1:9101".parse().unwrap())
        );
        assert_eq!(
            resolve(Some("[::1]:9200"), Some("127.0.0.1:9101"))
                .unwrap()
                .metrics_listen,
            Some("[::1]:9200".parse().unwrap())
        );
        let error = resolve(Some("localhost"), None).unwrap_err();
        assert!(
            error.contains("--metrics-listen") && error.contains("IP:PORT"),
            "{error}"
        );
        let error = resolve(None, Some("9101")).unwrap_err();
        assert!(error.contains("GANTRY_METRICS_LISTEN"), "{error}");
    }
}

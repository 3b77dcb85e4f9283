//! A `/metrics` page read by Prometheus' own parser: the official Python
//! client's `text_string_to_metric_families`, run in the venv `cargo xtask
//! test` installs (GANTRY_TEST_PROMETHEUS_PYTHON), so a page that parses
//! here parses in a real Prometheus stack, and a test never trusts a parser
//! of ours to read what our writer wrote. The hub's and the agent's metrics
//! tests scrape through [`read`], [`scrape`] and [`scrape_until`], so what a
//! scrape must answer (200, the 0.0.4 text format) is checked in one place.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::services::required;

/// Turns the page into JSON: each family with its type and samples.
const PARSE: &str = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [
            {"name": s.name, "labels": s.labels,
             "value": s.value if math.isfinite(s.value) else str(s.value)}
            for s in family.samples
        ],
    })
print(json.dumps(families))
"#;

/// The Python with prometheus-client that `cargo xtask test` installed;
/// `None` when it was not set up (the test then says it skipped), a
/// failure when services are required.
pub fn parser_python() -> Option<PathBuf> {
    match std::env::var("GANTRY_TEST_PROMETHEUS_PYTHON") {
        Ok(path) if !path.is_empty() => Some(path.into()),
        _ if required() => panic!(
            "GANTRY_TEST_PROMETHEUS_PYTHON is not set, and GANTRY_REQUIRE_SERVICES=1 forbids skipping the metrics tests"
        ),
        _ => {
            eprintln!(
                "SKIPPED: set GANTRY_TEST_PROMETHEUS_PYTHON (cargo xtask test does) to parse /metrics"
            );
            None
        }
    }
}

/// One sample as the parser read it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The sample's name (a histogram's `_bucket`, `_sum`, `_count`; a counter's `_total`).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// One family: its name (a counter's without `_total`, as the parser
/// names it), type and samples.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// A page, parsed.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub families: Vec<Family>,
}

impl Scrape {
    /// Parses `text` with `python`'s prometheus-client; panics with the
    /// parser's complaint when it refuses the page.
    pub fn parse(python: &Path, text: &str) -> Scrape {
        let mut child = Command::new(python)
            .args(["-c", PARSE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "prometheus_client refused the page: {}\n--- page ---\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        let families: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        Scrape {
            families: families
                .into_iter()
                .map(|family| Family {
                    name: family["name"].as_str().unwrap().to_owned(),
                    kind: family["type"].as_str().unwrap().to_owned(),
                    help: family["help"].as_str().unwrap_or("").to_owned(),
                    samples: family["samples"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|sample| Sample {
                            name: sample["name"].as_str().unwrap().to_owned(),
                            labels: serde_json::from_value(sample["labels"].clone()).unwrap(),
                            value: sample["value"].as_f64().unwrap_or(f64::NAN),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The family of this name, which must have this type.
    pub fn family(&self, name: &str, kind: &str) -> &Family {
        let family = self
            .families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name} in {:#?}", self.names()));
        assert_eq!(family.kind, kind, "the type of {name}");
        assert!(!family.help.is_empty(), "{name} has no help");
        family
    }

    /// Whether a sample `name` with `labels` is on the page.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        !self.matching(name, labels).is_empty()
    }

    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the sample `name` whose labels include `labels`; panics
    /// when none or several match.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.matching(name, labels);
        assert_eq!(
            found.len(),
            1,
            "samples {name} {labels:?}: {found:#?} (families: {:?})",
            self.names()
        );
        found[0].value
    }

    /// Every family's name.
    pub fn names(&self) -> Vec<&str> {
        self.families.iter().map(|f| f.name.as_str()).collect()
    }
}

/// Reads a `/metrics` answer as a scraper does: it must be 200 in
/// Prometheus' text format 0.0.4; its page, parsed.
pub async fn read(python: &Path, response: reqwest::Response) -> Scrape {
    let url = response.url().clone();
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{url}");
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{url}: {content_type}"
    );
    Scrape::parse(python, &response.text().await.unwrap())
}

/// `GET url` with a plain client (no token), read by [`read`].
pub async fn scrape(python: &Path, url: &str) -> Scrape {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    read(python, response).await
}

/// Scrapes `url` until `check` holds (30 s at most); the page that passed.
pub async fn scrape_until(
    python: &Path,
    url: &str,
    what: &str,
    check: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // A listener that is not up yet is waited for like a page that is
        // not there yet.
        match reqwest::get(url).await {
            Ok(response) => {
                let page = read(python, response).await;
                if check(&page) {
                    return page;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "waited for {what}: {page:#?}"
                );
            }
            Err(error) => assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {what}: GET {url}: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

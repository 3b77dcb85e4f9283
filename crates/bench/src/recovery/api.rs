//! The admin's calls to the hub under test, over plain HTTP with a client
//! of the benchmark's own: what it measures is the hub and the agent, not a
//! client library.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

/// A task as the hub shows it, the two fields used here.
pub(super) struct TaskView {
    pub state: String,
    pub log_size: u64,
}

/// The admin's calls to the hub.
pub(super) struct HubApi {
    client: reqwest::Client,
    base: String,
    admin: String,
}

impl HubApi {
    /// A client for the hub at `base` (`http://ADDR`), as its admin.
    pub fn new(base: &str, admin: &str) -> Result<HubApi> {
        Ok(HubApi {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()?,
            base: base.to_owned(),
            admin: admin.to_owned(),
        })
    }

    pub async fn submit(&self, job: &Value) -> Result<String> {
        let answer: Value = self
            .client
            .post(format!("{}/v1/tasks", self.base))
            .bearer_auth(&self.admin)
            .json(job)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer["id"]
            .as_str()
            .context("the submit returned no id")?
            .to_owned())
    }

    pub async fn task(&self, id: &str) -> Result<TaskView> {
        let task: Value = self
            .client
            .get(format!("{}/v1/tasks/{id}", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(TaskView {
            state: task["state"].as_str().unwrap_or_default().to_owned(),
            log_size: task["log_size"].as_u64().unwrap_or(0),
        })
    }

    pub async fn log(&self, id: &str) -> Result<Vec<u8>> {
        Ok(self
            .client
            .get(format!("{}/v1/tasks/{id}/log", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?
            .to_vec())
    }

    pub async fn cancel(&self, id: &str) -> Result<()> {
        self.client
            .post(format!("{}/v1/tasks/{id}/cancel", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

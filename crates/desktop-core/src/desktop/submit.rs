//! Local mode's new tasks: the New task form and job files, submitted to
//! the embedded hub as its admin. With a hub elsewhere, tasks are submitted
//! there (`gantry task submit`), not from this app.
//!
//! The form's rules are the protocol's ([`gantry_protocol::form`]), so a
//! task made here is checked like the same job written as a file.

use std::path::Path;

use gantry_protocol::form::TaskForm;
use gantry_protocol::job::{Format, JobSpec};

use super::Desktop;
use crate::view::{NewTask, UiError};

impl Desktop {
    /// Local mode: submits the New task form's task; its id.
    pub async fn submit_task(&self, task: NewTask) -> Result<String, UiError> {
        let spec = new_task_spec(&task)?;
        self.submit(&spec).await
    }

    /// Local mode: submits a job file; its id.
    pub async fn submit_job_file(&self, path: &Path) -> Result<String, UiError> {
        let text = tokio::fs::read_to_string(path).await.map_err(|e| {
            UiError::new("job_file", format!("cannot read {}: {e}", path.display()))
        })?;
        let name = path.display().to_string();
        let spec = JobSpec::parse(&text, Format::from_file_name(&name))
            .map_err(|e| UiError::new("bad_job", format!("{name}: {e}")))?;
        self.submit(&spec).await
    }

    async fn submit(&self, spec: &JobSpec) -> Result<String, UiError> {
        let admin = self.agent.admin().ok_or_else(|| {
            UiError::new(
                "not_local",
                "New tasks are made here only in local mode; submit them to your hub otherwise",
            )
        })?;
        admin
            .submit(spec)
            .await
            .map_err(|e| UiError::new("submit", e.to_string()))
    }
}

/// The job the New task form describes, checked like a job file.
fn new_task_spec(task: &NewTask) -> Result<JobSpec, UiError> {
    TaskForm {
        name: &task.name,
        image: &task.image,
        command: &task.command,
        env: &task.env,
        gpus: &task.gpus,
    }
    .to_spec()
    .map_err(|e| UiError::new("bad_job", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use crate::view::TaskState;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn job_files_are_checked_then_submitted_to_the_local_hub() {
        let dir = tempfile::tempdir().unwrap();
        let desktop = Desktop::new(dir.path().join("desktop.json"), Settings::default());
        let good = dir.path().join("job.yaml");
        std::fs::write(
            &good,
            "name: hello\nimage: busybox:1\ncommand: [echo, hi]\n",
        )
        .unwrap();
        let refused = desktop.submit_job_file(&good).await.unwrap_err();
        assert_eq!(refused.code, "not_local", "{}", refused.message);

        desktop
            .use_local(Some(dir.path().join("host")))
            .await
            .unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "image: busybox:1\ncomand: [echo]\n").unwrap();
        let error = desktop.submit_job_file(&bad).await.unwrap_err();
        assert_eq!(error.code, "bad_job");
        assert!(
            error.message.contains("bad.yaml") && error.message.contains("comand"),
            "{}",
            error.message
        );
        let missing = desktop
            .submit_job_file(&dir.path().join("nope.yaml"))
            .await
            .unwrap_err();
        assert_eq!(missing.code, "job_file");

        let id = desktop.submit_job_file(&good).await.unwrap();
        // The local hub knows it at once, with its spec and first state.
        let detail = desktop.task_detail(&id).await.unwrap();
        assert_eq!(detail.task.name, "hello");
        assert!(
            detail
                .spec
                .as_deref()
                .is_some_and(|s| s.contains("busybox:1"))
        );
        assert_eq!(
            detail.timeline.first().map(|t| t.state),
            Some(TaskState::Queued)
        );
        let unknown = desktop.task_detail("t-none").await.unwrap_err();
        assert_eq!(unknown.code, "unknown_task");
        let _ = desktop.cancel_task(&id);
        desktop
            .shutdown(true, std::time::Duration::from_secs(20))
            .await;
    }

    #[test]
    fn the_new_task_form_answers_bad_job_with_the_protocols_words() {
        let form = NewTask {
            name: "train".into(),
            image: "python:3.12-slim".into(),
            command: "python -c 'print(1)'".into(),
            env: vec!["A=1".into()],
            gpus: "0,1".into(),
        };
        let spec = new_task_spec(&form).unwrap();
        assert_eq!(
            spec.resources.gpus,
            Some(gantry_protocol::job::Gpus::Indices(vec![0, 1]))
        );
        let error = new_task_spec(&NewTask {
            gpus: "two".into(),
            ..form
        })
        .unwrap_err();
        assert_eq!(error.code, "bad_job");
        assert_eq!(
            error.message,
            "GPUs: \"two\" is not none, all, a count (2) or device numbers (0,1)"
        );
    }
}

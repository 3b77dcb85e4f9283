//! A task's containers and network: creating a container hardened as the
//! module and [`super::hardening`] say (labels, mounts, limits, GPU device
//! requests, no privileges, capabilities, pids, the node's network choice),
//! starting services beside the task on its private network, stopping, and
//! removing what a task or a crash left behind.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HostConfig, HostConfigLogConfig, Mount,
    MountType, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use gantry_protocol::job::Gpus;

use super::hardening::{NO_PRIVATE_NETWORK, TaskNetwork, no_private_bridge};
use super::{ContainerPlan, Engine, LABEL_AGENT, LABEL_NODE, LABEL_ROLE, LABEL_TASK, TASK_MOUNT};
use crate::executor::ExecError;

impl Engine {
    /// Makes the task's private network, where services are reachable by name.
    pub async fn create_network(&self, task_id: &str, node: &str) -> Result<String, ExecError> {
        let name = format!("gantry-{task_id}");
        let labels = HashMap::from([
            (LABEL_TASK.to_owned(), task_id.to_owned()),
            (LABEL_NODE.to_owned(), node.to_owned()),
        ]);
        let request = self.hardened_network(name.clone(), labels);
        self.call(
            "create the task's network",
            self.docker.create_network(request),
        )
        .await?;
        Ok(name)
    }

    /// A network's request as the node's `--task-network` wants it: under
    /// `none` an internal network whose bridge has no address on the host
    /// (its containers reach each other and nothing else: an internal
    /// network alone still lets them reach the host through its gateway),
    /// under `no-private` a bridge the firewall rules match.
    fn hardened_network(
        &self,
        name: String,
        labels: HashMap<String, String>,
    ) -> NetworkCreateRequest {
        let mut request = NetworkCreateRequest {
            name,
            labels: Some(labels),
            ..Default::default()
        };
        match self.hardening.network {
            TaskNetwork::Full => {}
            TaskNetwork::None => {
                request.internal = Some(true);
                request.options = Some(HashMap::from([(
                    "com.docker.network.bridge.inhibit_ipv4".to_owned(),
                    "true".to_owned(),
                )]));
            }
            TaskNetwork::NoPrivate => {
                request.enable_ipv6 = Some(false);
                request.options = Some(HashMap::from([(
                    "com.docker.network.bridge.name".to_owned(),
                    no_private_bridge(&request.name),
                )]));
            }
        }
        request
    }

    /// Makes the shared `no-private` network (inter-container traffic off)
    /// unless it is there, and checks the firewall's jumps are in place.
    async fn ensure_no_private(&self) -> Result<(), ExecError> {
        super::no_private::ensure_jumps().await?;
        if self
            .docker
            .inspect_network(NO_PRIVATE_NETWORK, None)
            .await
            .is_ok()
        {
            return Ok(());
        }
        let mut request = self.hardened_network(NO_PRIVATE_NETWORK.to_owned(), HashMap::new());
        if let Some(options) = &mut request.options {
            options.insert(
                "com.docker.network.bridge.enable_icc".to_owned(),
                "false".to_owned(),
            );
        }
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Another task made it first.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(ExecError::Other(format!(
                "cannot make the {NO_PRIVATE_NETWORK} network for --task-network no-private: {e}"
            ))),
        }
    }

    /// Creates and starts a container that runs beside the task (a service);
    /// returns its address on the task's network, when it has one.
    pub async fn start_detached(&self, plan: &ContainerPlan) -> Result<Option<String>, ExecError> {
        let id = self.create(plan).await?;
        self.call("start a service", self.docker.start_container(&id, None))
            .await?;
        let inspected = self
            .call(
                "inspect a service",
                self.docker.inspect_container(&id, None),
            )
            .await?;
        Ok(plan.network.as_ref().and_then(|network| {
            inspected
                .network_settings?
                .networks?
                .remove(network)?
                .ip_address
                .filter(|address| !address.is_empty())
        }))
    }

    /// Creates a task's container, labelled with the task, node and role.
    pub async fn create(&self, plan: &ContainerPlan) -> Result<String, ExecError> {
        let mut mounts = vec![Mount {
            target: Some(TASK_MOUNT.to_owned()),
            source: Some(plan.command.work_dir.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(false),
            ..Default::default()
        }];
        for (blob, path) in &plan.inputs {
            mounts.push(Mount {
                target: Some(format!("{TASK_MOUNT}/{}", path.trim_start_matches("./"))),
                source: Some(blob.display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            });
        }
        let mut labels = HashMap::from([
            (LABEL_TASK.to_owned(), plan.task_id.clone()),
            (LABEL_NODE.to_owned(), plan.node.clone()),
            (LABEL_ROLE.to_owned(), plan.role.to_owned()),
        ]);
        if let Some(agent) = &self.agent {
            labels.insert(LABEL_AGENT.to_owned(), agent.clone());
        }
        // The task's own network, else the node's choice (none: Docker's bridge).
        let network_mode = plan
            .network
            .clone()
            .or_else(|| self.hardening.default_network().map(str::to_owned));
        if self.hardening.network == TaskNetwork::NoPrivate {
            if plan.network.is_none() {
                self.ensure_no_private().await?;
            } else {
                super::no_private::ensure_jumps().await?;
            }
        }
        let mut host_config = HostConfig {
            mounts: Some(mounts),
            init: Some(true),
            privileged: Some(false),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            // The engine keeps a bounded copy of the output; Gantry's own copy is the spool.
            log_config: Some(HostConfigLogConfig {
                typ: Some("local".to_owned()),
                config: Some(HashMap::from([
                    // Enough to re-read a long outage of the agent's output.
                    ("max-size".to_owned(), "100m".to_owned()),
                    ("max-file".to_owned(), "10".to_owned()),
                ])),
            }),
            device_requests: gpu_request(plan.resources.gpus.as_ref(), &plan.gpu_ids),
            nano_cpus: plan.resources.cpus.map(|cpus| (cpus * 1e9) as i64),
            memory: plan.resources.memory.map(|m| m.0 as i64),
            shm_size: plan.resources.shm.map(|s| s.0 as i64),
            network_mode,
            extra_hosts: (!plan.extra_hosts.is_empty()).then(|| plan.extra_hosts.clone()),
            ..Default::default()
        };
        self.hardening.apply(&mut host_config, plan.role);
        let networking_config = plan
            .network
            .as_ref()
            .filter(|_| !plan.aliases.is_empty())
            .map(|network| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    EndpointSettings {
                        aliases: Some(plan.aliases.clone()),
                        ..Default::default()
                    },
                )])),
            });
        let body = ContainerCreateBody {
            image: Some(plan.image.clone()),
            cmd: (!plan.command.argv.is_empty()).then(|| plan.command.argv.clone()),
            env: Some(
                plan.command
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            working_dir: Some(TASK_MOUNT.to_owned()),
            labels: Some(labels),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new()
            .name(&plan.name)
            .build();
        let created = self
            .call("create the container", self.docker.create_container(Some(options), body))
            .await
            .map_err(|e| match e {
                ExecError::Other(message) if message.contains("No such image") => ExecError::ImageNotFound(format!(
                    "image {} is not on this machine and was not pulled; check its name or set pull: always",
                    plan.image
                )),
                other => other,
            })?;
        Ok(created.id)
    }

    /// Stops a container: SIGTERM, SIGKILL after `grace`. A paused container is thawed first.
    pub(super) async fn stop(&self, id: &str, grace: Duration) {
        let _ = self.docker.unpause_container(id).await;
        let options = StopContainerOptionsBuilder::new()
            .t(grace.as_secs() as i32)
            .build();
        let stop = self.docker.stop_container(id, Some(options));
        if tokio::time::timeout(grace + self.call_timeout, stop)
            .await
            .is_err()
        {
            tracing::warn!(container = id, "docker stop did not return; killing");
            let _ = self.docker.kill_container(id, None).await;
        }
    }

    /// Removes a container and its anonymous volumes; a missing one is fine.
    pub async fn remove(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        if let Err(error) = self
            .call(
                "remove the container",
                self.docker.remove_container(id, Some(options)),
            )
            .await
        {
            tracing::warn!(container = id, %error, "could not remove a container");
        }
    }

    /// Removes this agent's containers whose task is not in `held`: left
    /// behind by a crash at the wrong moment, or by an engine that went away
    /// as a task ended. Returns how many went.
    pub async fn sweep(&self, held: &std::collections::BTreeSet<String>) -> usize {
        let Some(agent) = &self.agent else { return 0 };
        let filters = HashMap::from([("label", vec![format!("{LABEL_AGENT}={agent}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let Ok(containers) = self
            .call(
                "list the node's containers",
                self.docker.list_containers(Some(options)),
            )
            .await
        else {
            return 0;
        };
        let mut removed = 0;
        for container in containers {
            let task = container
                .labels
                .as_ref()
                .and_then(|labels| labels.get(LABEL_TASK));
            // `gantry run` tasks (`local-…`) belong to another process.
            if let (Some(task), Some(id)) = (task, &container.id)
                && !held.contains(task)
                && !task.starts_with("local-")
            {
                tracing::info!(task, container = %id, "removing a container no held task owns");
                self.remove_task(task).await;
                removed += 1;
            }
        }
        removed
    }

    /// Removes every container and the network of a task.
    pub async fn remove_task(&self, task_id: &str) {
        let filters = HashMap::from([("label", vec![format!("{LABEL_TASK}={task_id}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        if let Ok(containers) = self
            .call(
                "list the task's containers",
                self.docker.list_containers(Some(options)),
            )
            .await
        {
            for container in containers {
                if let Some(id) = container.id {
                    self.remove(&id).await;
                }
            }
        }
        let _ = self
            .docker
            .remove_network(&format!("gantry-{task_id}"))
            .await;
    }
}

/// The device request for a task's GPUs: the UUIDs the agent gave it; by
/// count or index only for a container made without them (a record written
/// before the agent gave GPUs out).
fn gpu_request(gpus: Option<&Gpus>, ids: &[String]) -> Option<Vec<DeviceRequest>> {
    let request = |count: Option<i64>, ids: Option<Vec<String>>| DeviceRequest {
        driver: Some("nvidia".to_owned()),
        count,
        device_ids: ids,
        capabilities: Some(vec![vec!["gpu".to_owned()]]),
        ..Default::default()
    };
    if !ids.is_empty() {
        return Some(vec![request(None, Some(ids.to_vec()))]);
    }
    Some(vec![match gpus? {
        Gpus::All => request(Some(-1), None),
        Gpus::Count(n) => request(Some(i64::from(*n)), None),
        Gpus::Indices(list) => request(None, Some(list.iter().map(u32::to_string).collect())),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_requests() {
        assert!(gpu_request(None, &[]).is_none());
        let all = gpu_request(Some(&Gpus::All), &[]).unwrap();
        assert_eq!(all[0].count, Some(-1));
        let some = gpu_request(Some(&Gpus::Indices(vec![0, 2])), &[]).unwrap();
        assert_eq!(
            some[0].device_ids.as_deref(),
            Some(&["0".to_owned(), "2".to_owned()][..])
        );
        let given = ["GPU-a".to_owned(), "MIG-b".to_owned()];
        let by_id = gpu_request(Some(&Gpus::Count(2)), &given).unwrap();
        assert_eq!(by_id[0].device_ids.as_deref(), Some(&given[..]));
        assert_eq!(by_id[0].count, None);
    }
}

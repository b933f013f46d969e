//! The `docker` driver: runs requests in containers through the Docker
//! Engine API over a unix socket (`DOCKER_HOST`, `/var/run/docker.sock`, or
//! Podman's Docker-compatible socket).
//!
//! Every container starts with no network (unless the step was granted a
//! host), all capabilities dropped, `no-new-privileges`, a read-only root
//! filesystem, and labels tying it to the installation; it is removed when
//! the command ends, fails to start, or runs past the step's deadline.

use super::{Completed, Driver, DriverError, EnvValue, Request, RunLimits};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;

/// When to pull an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Never: a missing image is an error.
    Never,
    /// When the engine does not have it.
    Missing,
    /// Before every run.
    Always,
}

/// Runs requests in containers.
pub struct DockerDriver {
    docker: Docker,
    rt: tokio::runtime::Runtime,
    pull: PullPolicy,
    endpoint: String,
    live: Live,
}

/// Containers that exist right now, for the Ctrl-C watcher.
type Live = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// On Ctrl-C ([`crate::interrupt`]), remove every live container. The step
/// waiting on one then fails as interrupted; a step still inside its mixin
/// is trapped at the next epoch tick; the run is recorded as interrupted and
/// the command exits 130.
fn watch_ctrl_c(docker: Docker, live: Live) {
    crate::interrupt::on_interrupt(move || {
        let ids: Vec<String> = live
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            for id in ids {
                let options = RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build();
                let _ = docker.remove_container(&id, Some(options)).await;
            }
        });
    });
    crate::interrupt::watch();
}

fn engine_err(endpoint: &str, what: &str, e: impl std::fmt::Display) -> DriverError {
    DriverError::Engine {
        endpoint: endpoint.to_string(),
        reason: format!("{what}: {e}"),
    }
}

impl DockerDriver {
    /// Connect to `socket` (a path or `unix://` URL), or to `DOCKER_HOST` /
    /// the default socket when `None`.
    pub fn connect(socket: Option<&str>, pull: PullPolicy) -> Result<Self, DriverError> {
        let endpoint = socket
            .map(str::to_string)
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        let docker = Docker::connect_with_unix(&endpoint, 120, bollard::API_DEFAULT_VERSION)
            .map_err(|e| {
                engine_err(
                    &endpoint,
                    "cannot connect (is Docker or `podman system service` running?)",
                    e,
                )
            })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| engine_err(&endpoint, "tokio runtime", e))?;
        let live = Live::default();
        watch_ctrl_c(docker.clone(), live.clone());
        Ok(DockerDriver {
            docker,
            rt,
            pull,
            endpoint,
            live,
        })
    }

    async fn ensure_image(&self, image: &str) -> Result<(), DriverError> {
        let present = self.docker.inspect_image(image).await.is_ok();
        let pull = match self.pull {
            PullPolicy::Always => true,
            PullPolicy::Missing => !present,
            PullPolicy::Never if present => false,
            PullPolicy::Never => {
                return Err(engine_err(
                    &self.endpoint,
                    &format!("image {image}"),
                    "not present, and --pull never forbids pulling it",
                ));
            }
        };
        if pull {
            let options = CreateImageOptionsBuilder::default()
                .from_image(image)
                .build();
            let mut progress = self.docker.create_image(Some(options), None, None);
            while let Some(step) = progress.next().await {
                step.map_err(|e| engine_err(&self.endpoint, &format!("pulling image {image}"), e))?;
            }
        }
        Ok(())
    }

    async fn run_container(
        &self,
        request: &Request,
        image: &str,
        limits: RunLimits,
    ) -> Result<Completed, DriverError> {
        self.ensure_image(image).await?;
        let env: Vec<String> = request
            .env
            .iter()
            .map(|(k, v)| match v {
                EnvValue::Text(t) => format!("{k}={t}"),
                EnvValue::Secret { value, .. } => format!("{k}={value}"),
            })
            .collect();
        let mut binds: Vec<String> = request
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{}:{}:{}",
                    m.host.display(),
                    m.target,
                    if m.read_only { "ro" } else { "rw" }
                )
            })
            .collect();
        // Porter's `path:` destinations: each written into a private
        // temporary directory (removed when this returns) and mounted
        // read-only at its path.
        let placed = tempfile::Builder::new()
            .prefix("wasmix-files-")
            .tempdir()
            .map_err(|e| engine_err(&self.endpoint, "placing files", e))?;
        for (i, f) in request.files.iter().enumerate() {
            let host = placed.path().join(i.to_string());
            std::fs::write(&host, f.contents.as_slice())
                .map_err(|e| engine_err(&self.endpoint, &format!("placing {}", f.source), e))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o444))
                    .map_err(|e| engine_err(&self.endpoint, &format!("placing {}", f.source), e))?;
            }
            binds.push(format!("{}:{}:ro", host.display(), f.target));
        }
        let labels: HashMap<String, String> = request.labels.iter().cloned().collect();
        let mut cmd = vec![request.program.clone()];
        cmd.extend(request.args.iter().cloned());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd),
            env: Some(env),
            working_dir: request.container_workdir.clone(),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some(if request.network {
                    "bridge".into()
                } else {
                    "none".into()
                }),
                readonly_rootfs: Some(true),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges".into()]),
                privileged: Some(false),
                binds: if binds.is_empty() { None } else { Some(binds) },
                pids_limit: Some(1024),
                ..Default::default()
            }),
            ..Default::default()
        };
        let interrupted = || {
            engine_err(
                &self.endpoint,
                &request.program,
                "interrupted (Ctrl-C); its container was removed",
            )
        };
        // Ctrl-C during an image pull: start nothing.
        if crate::interrupt::requested() {
            return Err(interrupted());
        }
        let created = self
            .docker
            .create_container(Some(CreateContainerOptionsBuilder::default().build()), body)
            .await
            .map_err(|e| {
                engine_err(
                    &self.endpoint,
                    &format!("creating a container from {image}"),
                    e,
                )
            })?;
        let id = created.id;
        if let Ok(mut live) = self.live.lock() {
            live.insert(id.clone());
        }
        // Ctrl-C between creating and registering the container: the
        // watcher did not see it, so it is not started.
        let result = if crate::interrupt::requested() {
            Err(interrupted())
        } else {
            self.start_and_collect(&id, request, limits).await
        };
        // Removed on every path: success, failure, deadline, Ctrl-C.
        let remove = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let removed = self.docker.remove_container(&id, Some(remove)).await;
        if let Ok(mut live) = self.live.lock() {
            live.remove(&id);
        }
        if result.is_err() && crate::interrupt::requested() {
            return Err(interrupted());
        }
        let done = result?;
        removed.map_err(|e| engine_err(&self.endpoint, &format!("removing container {id}"), e))?;
        Ok(done)
    }

    async fn start_and_collect(
        &self,
        id: &str,
        request: &Request,
        limits: RunLimits,
    ) -> Result<Completed, DriverError> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| engine_err(&self.endpoint, &format!("starting {}", request.program), e))?;
        let code = self.wait_exit(id, request, limits).await?;
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(id, Some(options));
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(chunk) = logs.next().await {
            let chunk = chunk
                .map_err(|e| engine_err(&self.endpoint, "reading the container's output", e))?;
            let (buf, bytes) = match chunk {
                bollard::container::LogOutput::StdErr { message } => (&mut stderr, message),
                bollard::container::LogOutput::StdOut { message }
                | bollard::container::LogOutput::Console { message } => (&mut stdout, message),
                bollard::container::LogOutput::StdIn { .. } => continue,
            };
            let room = limits.output_cap.saturating_sub(buf.len());
            buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        Ok(Completed {
            exit_code: code as i32,
            stdout,
            stderr,
        })
    }

    /// The container's exit code, within the step's remaining deadline.
    async fn wait_exit(
        &self,
        id: &str,
        request: &Request,
        limits: RunLimits,
    ) -> Result<i64, DriverError> {
        let waited = tokio::time::timeout(limits.timeout, async {
            let mut wait = self
                .docker
                .wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
            match wait.next().await {
                Some(Ok(r)) => Ok(r.status_code),
                // bollard reports a non-zero exit as an error carrying the code.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    Ok(code)
                }
                Some(Err(e)) => Err(engine_err(&self.endpoint, "waiting for the container", e)),
                None => Err(engine_err(
                    &self.endpoint,
                    "waiting for the container",
                    "no status",
                )),
            }
        })
        .await;
        match waited {
            Ok(code) => code,
            Err(_) => Err(DriverError::Timeout {
                program: request.program.clone(),
                seconds: limits.timeout.as_secs(),
            }),
        }
    }
}

impl Driver for DockerDriver {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn run(&self, request: &Request, limits: RunLimits) -> Result<Completed, DriverError> {
        let Some(image) = &request.image else {
            return Err(DriverError::Unsupported {
                driver: "docker",
                what: format!(
                    "run {} without an image (give the step an image, or use --driver host)",
                    request.program
                ),
            });
        };
        if request.stdin.is_some() {
            return Err(DriverError::Unsupported {
                driver: "docker",
                what: "feed standard input to a container yet".into(),
            });
        }
        self.rt.block_on(self.run_container(request, image, limits))
    }
}

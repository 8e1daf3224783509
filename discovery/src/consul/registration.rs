//! A service instance announcing itself to its local Consul agent, with a gRPC health check the
//! agent runs, and leaving again on graceful shutdown.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{AgentServiceCheck, AgentServiceRegistration, ConsulClient, go_duration};

/// How often the agent runs the gRPC health check by default. This bounds how long a crashed
/// instance keeps receiving (failing) requests: callers drop it once a check fails.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(10);
/// How long one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an instance may stay critical before the agent removes it (a crashed instance
/// never deregisters itself).
const DEREGISTER_CRITICAL_AFTER: Duration = Duration::from_secs(30);
/// How often we ask the agent whether it still knows us (a restarted dev agent forgets).
const VERIFY_INTERVAL: Duration = Duration::from_secs(10);
/// How long deregistration may delay shutdown.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an instance keeps serving after deregistering, so that watchers (whose blocking
/// queries return at once) drop it before it stops accepting requests.
const LEAVE_GRACE: Duration = Duration::from_millis(500);

/// What to register: built from the service's names and advertised address, then
/// [`Registration::start`]ed once the server reports SERVING.
#[derive(Debug, Clone)]
pub struct Registration {
    client: ConsulClient,
    body: AgentServiceRegistration,
    verify_interval: Duration,
    leave_grace: Duration,
}

impl Registration {
    /// An instance of `name` (`users-service`) serving the gRPC service `grpc_service`
    /// (`users.v1.UserService`, also what the health check asks for), reachable by others at
    /// `host:port`, at `version`. The ID is `name-host-port`, unique per instance.
    pub fn new(
        client: ConsulClient,
        name: &str,
        grpc_service: &str,
        host: &str,
        port: u16,
        version: &str,
    ) -> Self {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let body = AgentServiceRegistration {
            id: format!("{name}-{host}-{port}"),
            name: name.to_owned(),
            address: host.to_owned(),
            port,
            tags: vec![format!("v{version}"), "grpc".to_owned()],
            meta: BTreeMap::from([("version".to_owned(), version.to_owned())]),
            check: AgentServiceCheck {
                grpc: format!("{authority}/{grpc_service}"),
                grpc_use_tls: false,
                interval: go_duration(DEFAULT_CHECK_INTERVAL),
                timeout: go_duration(CHECK_TIMEOUT),
                deregister_critical_service_after: go_duration(DEREGISTER_CRITICAL_AFTER),
            },
        };
        Self {
            client,
            body,
            verify_interval: VERIFY_INTERVAL,
            leave_grace: LEAVE_GRACE,
        }
    }

    /// Changes how often the agent runs the health check (default 10 s); the check's timeout
    /// is 2 s or the interval, whichever is shorter.
    pub fn check_every(mut self, interval: Duration) -> Self {
        self.body.check.interval = go_duration(interval);
        self.body.check.timeout = go_duration(CHECK_TIMEOUT.min(interval));
        self
    }

    /// Changes how long the instance keeps serving after deregistering (default 500 ms), the
    /// time watchers get to drop it before it drains.
    pub fn leave_grace(mut self, grace: Duration) -> Self {
        self.leave_grace = grace;
        self
    }

    /// Changes how often the registration is verified (and restored after an agent restart).
    pub fn verify_every(mut self, interval: Duration) -> Self {
        self.verify_interval = interval;
        self
    }

    /// The instance ID.
    pub fn id(&self) -> &str {
        &self.body.id
    }

    /// The body sent to `PUT /v1/agent/service/register`.
    pub fn body(&self) -> &AgentServiceRegistration {
        &self.body
    }

    /// Registers in the background (retrying with backoff while the agent is unreachable), then
    /// keeps the registration alive: every verify interval it asks the agent whether it still
    /// knows the ID, and registers again when not. Must run inside a tokio runtime.
    pub fn start(self) -> RegistrationHandle {
        let (stop, stopped) = oneshot::channel();
        let client = self.client.clone();
        let id = self.body.id.clone();
        let leave_grace = self.leave_grace;
        let task = tokio::spawn(keep_registered(self, stopped));
        RegistrationHandle {
            client,
            id,
            leave_grace,
            stop,
            task,
        }
    }
}

async fn keep_registered(registration: Registration, mut stopped: oneshot::Receiver<()>) {
    let Registration {
        client,
        body,
        verify_interval,
        leave_grace: _,
    } = registration;
    let id = body.id.as_str();
    let mut registered = false;
    let mut failures: u32 = 0;
    loop {
        let result = if registered {
            match client.agent_service_exists(id).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    tracing::warn!(
                        id,
                        "Consul no longer knows this instance: registering again"
                    );
                    registered = false;
                    client.register(&body).await
                }
                Err(err) => Err(err),
            }
        } else {
            client.register(&body).await
        };
        let delay = match result {
            Ok(()) => {
                if !registered {
                    tracing::info!(
                        id,
                        name = body.name,
                        address = body.address,
                        port = body.port,
                        consul = client.address(),
                        "registered in Consul"
                    );
                }
                registered = true;
                failures = 0;
                verify_interval
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    tracing::warn!(id, error = %err, "Consul registration failed; retrying");
                } else {
                    tracing::debug!(id, error = %err, failures, "Consul registration still failing");
                }
                let backoff = Duration::from_millis(200).saturating_mul(1 << failures.min(5));
                backoff.min(verify_interval)
            }
        };
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// A running registration; [`RegistrationHandle::deregister`] ends it.
#[derive(Debug)]
pub struct RegistrationHandle {
    client: ConsulClient,
    id: String,
    leave_grace: Duration,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RegistrationHandle {
    /// The instance ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops keeping the registration alive and removes it from the agent, then waits the leave
    /// grace, so clients stop sending new requests here before the server drains. Failures are
    /// logged, not returned: the agent removes a critical instance by itself after
    /// `DeregisterCriticalServiceAfter`.
    pub async fn deregister(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        match tokio::time::timeout(DEREGISTER_TIMEOUT, self.client.deregister(&self.id)).await {
            Ok(Ok(())) => {
                tracing::info!(id = self.id, grace = ?self.leave_grace, "deregistered from Consul");
                tokio::time::sleep(self.leave_grace).await;
            }
            Ok(Err(err)) => {
                tracing::warn!(id = self.id, error = %err, "Consul deregistration failed")
            }
            Err(_) => tracing::warn!(id = self.id, "Consul deregistration timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_interval_and_timeout() {
        let client = ConsulClient::new("127.0.0.1:8500", None).expect("valid");
        let registration = Registration::new(client, "users-service", "u.v1.U", "h", 1, "0");
        assert_eq!(registration.body().check.interval, "10s");
        assert_eq!(registration.body().check.timeout, "2s");
        let faster = registration.check_every(Duration::from_secs(1));
        assert_eq!(faster.body().check.interval, "1s");
        assert_eq!(faster.body().check.timeout, "1s");
        assert_eq!(faster.id(), "users-service-h-1");
    }
}

//! What every service binary does around its own start-up: the `healthcheck` subcommand that
//! container healthchecks call, and one way of reporting a fatal error (logged, one line on
//! stderr, non-zero exit). Keeps each `main.rs` down to its flags and its `Application`.

use std::net::SocketAddr;
use std::process::ExitCode;

/// One service binary: its name, the gRPC service it serves, and where it listens by default.
#[derive(Debug, Clone, Copy)]
pub struct ServiceBinary {
    /// The binary's name (`users-service`), used in messages and as its Consul service name.
    pub name: &'static str,
    /// The version registered in Consul's service meta (the crate version).
    pub version: &'static str,
    /// The fully qualified gRPC service name its health service reports (`users.v1.UserService`).
    pub grpc_service: &'static str,
    /// The default listen address, also where `healthcheck` probes when `LISTEN_ADDR` is unset.
    pub default_listen: &'static str,
}

impl ServiceBinary {
    /// `<binary> healthcheck`: when it is the first argument, checks that the server on
    /// `LISTEN_ADDR` reports SERVING and returns the exit code to end with; `None` otherwise.
    /// It needs no other configuration, so a container healthcheck can run it as is.
    pub async fn healthcheck_if_asked(&self) -> Option<ExitCode> {
        if std::env::args().nth(1).as_deref() != Some("healthcheck") {
            return None;
        }
        let listen =
            std::env::var("LISTEN_ADDR").unwrap_or_else(|_| self.default_listen.to_owned());
        let probe = async {
            let listen: SocketAddr = listen
                .parse()
                .map_err(|_| anyhow::anyhow!("LISTEN_ADDR `{listen}` is not an address"))?;
            crate::server::probe_health(listen, self.grpc_service).await
        };
        Some(match probe.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{} healthcheck: {err:#}", self.name);
                ExitCode::FAILURE
            }
        })
    }

    /// The Consul registration of this binary's server bound to `bound`, advertised as
    /// `advertise` says; `None` when no Consul address is configured (static mode).
    pub fn registration(
        &self,
        consul: &discovery::ConsulArgs,
        advertise: &discovery::AdvertiseArgs,
        bound: SocketAddr,
    ) -> anyhow::Result<Option<discovery::Registration>> {
        Ok(consul.registration(advertise, bound, self.name, self.grpc_service, self.version)?)
    }

    /// The exit code for how the service ended; a failure is logged and printed as one line.
    pub fn exit_code(&self, outcome: anyhow::Result<()>) -> ExitCode {
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "{} failed", self.name);
                eprintln!("{}: {err:#}", self.name);
                ExitCode::FAILURE
            }
        }
    }
}

//! What every service binary does, in [`run`]: the `healthcheck` subcommand that container
//! healthchecks call, the shared flags ([`ServiceArgs`]), tracing, Consul registration, serving
//! until Ctrl-C or SIGTERM, and one way of reporting a fatal error (logged, one line on stderr,
//! non-zero exit). Keeps each `main.rs` down to how it builds its [`Application`].

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, FromArgMatches};

use crate::{Application, ServiceArgs, ShopService};

/// One service binary: its name, the gRPC service it serves, and where it listens by default.
#[derive(Debug, Clone, Copy)]
pub struct ServiceBinary {
    /// The binary's name (`users-service`), used in messages and `--help`, and as its Consul
    /// service name.
    pub name: &'static str,
    /// The version `--version` prints and Consul's service meta records (the crate version).
    pub version: &'static str,
    /// What `--help` says the binary is (the crate description).
    pub description: &'static str,
    /// The fully qualified gRPC service name its health service reports (`users.v1.UserService`).
    pub grpc_service: &'static str,
    /// The default listen address, also where `healthcheck` probes when `LISTEN_ADDR` is unset.
    pub default_listen: &'static str,
}

/// The whole `main` of a service binary: answers `healthcheck`, parses [`ServiceArgs`] (with
/// the binary's own flags `E`), starts tracing (and span export, see [`crate::telemetry`]),
/// builds the application with `build`, registers
/// it in Consul when an agent is configured, and serves until Ctrl-C or SIGTERM.
///
/// `build` is the one step that differs between services (purchases picks its upstreams'
/// discovery from the flags); any error, from it or later, ends the process with a failure.
pub async fn run<S, E>(
    build: impl AsyncFnOnce(&ServiceArgs<E>) -> anyhow::Result<Application<S>>,
) -> ExitCode
where
    S: ShopService,
    E: Args,
{
    let binary = S::BINARY;
    if let Some(code) = binary.healthcheck_if_asked().await {
        return code;
    }
    let args = binary.parse_args::<E>(std::env::args_os());
    let telemetry = match crate::telemetry::init_tracing(binary.name, args.log.log_format) {
        Ok(telemetry) => telemetry,
        Err(err) => return binary.exit_code(Err(err)),
    };
    let result = async {
        let mut app = build(&args).await?;
        if let Some(addr) = args.metrics_addr {
            app = app.serve_metrics(addr).await?;
        }
        if let Some(registration) =
            binary.registration(&args.consul, &args.advertise, app.local_addr())?
        {
            app = app.register(registration);
        }
        app.run_until(crate::shutdown_signal()).await
    }
    .await;
    // Flush the spans still buffered; losing them is worth a warning, not a failed exit.
    if let Err(err) = telemetry.shutdown().await {
        tracing::warn!(error = %err, "exporting the last spans failed");
    }
    binary.exit_code(result)
}

impl ServiceBinary {
    /// The flags in `argv`; prints help, the version or a usage error and exits as clap does.
    fn parse_args<E: Args>(
        &self,
        argv: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> ServiceArgs<E> {
        let mut command = self.command::<E>();
        let parsed = command
            .try_get_matches_from_mut(argv)
            .and_then(|matches| ServiceArgs::from_arg_matches(&matches));
        parsed.unwrap_or_else(|err| err.format(&mut command).exit())
    }

    /// The parser: [`ServiceArgs`] under this binary's name, version and description, with
    /// `--listen` defaulting to [`ServiceBinary::default_listen`]. Built here rather than
    /// derived in each binary because the default differs per binary and a derive needs it at
    /// compile time in the struct that declares the flag.
    fn command<E: Args>(&self) -> clap::Command {
        ServiceArgs::<E>::augment_args(clap::Command::new(self.name))
            // After the groups: a group's doc comment would otherwise become the description.
            .version(self.version)
            .about(self.description)
            .long_about(None)
            .mut_arg("listen", |arg| {
                arg.default_value(self.default_listen).required(false)
            })
    }

    /// `<binary> healthcheck`: when it is the first argument, checks that the server on
    /// `LISTEN_ADDR` reports SERVING and returns the exit code to end with; `None` otherwise.
    /// It needs no other configuration, so a container healthcheck can run it as is.
    async fn healthcheck_if_asked(&self) -> Option<ExitCode> {
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
    fn registration(
        &self,
        consul: &discovery::ConsulArgs,
        advertise: &discovery::AdvertiseArgs,
        bound: SocketAddr,
    ) -> anyhow::Result<Option<discovery::Registration>> {
        Ok(consul.registration(advertise, bound, self.name, self.grpc_service, self.version)?)
    }

    /// The exit code for how the service ended; a failure is logged and printed as one line.
    fn exit_code(&self, outcome: anyhow::Result<()>) -> ExitCode {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoFlags;

    const BINARY: ServiceBinary = ServiceBinary {
        name: "thing-service",
        version: "1.2.3",
        description: "A thing.",
        grpc_service: "things.v1.ThingService",
        default_listen: "127.0.0.1:50099",
    };

    /// Own flags, to check they are parsed and listed right after `--listen`.
    #[derive(Debug, clap::Args)]
    struct Extra {
        /// An own flag.
        #[arg(long, env = "EXTRA_FLAG", default_value_t = 7)]
        extra: u32,
    }

    #[test]
    fn the_parser_is_consistent() {
        BINARY.command::<NoFlags>().debug_assert();
        BINARY.command::<Extra>().debug_assert();
    }

    #[test]
    fn listen_defaults_to_the_binary_s_address() {
        let args: ServiceArgs = BINARY
            .parse_args(["thing-service", "--database-url", "postgres://h/d"].map(Into::into));
        assert_eq!(args.listen, "127.0.0.1:50099".parse().expect("literal"));
        assert_eq!(args.config().database.url, "postgres://h/d");
        let args: ServiceArgs<Extra> = BINARY.parse_args(
            [
                "thing-service",
                "--listen",
                "0.0.0.0:1",
                "--database-url",
                "postgres://h/d",
                "--extra",
                "9",
            ]
            .map(Into::into),
        );
        assert_eq!(args.listen, "0.0.0.0:1".parse().expect("literal"));
        assert_eq!(args.own.extra, 9);
    }

    #[test]
    fn help_names_every_flag_and_variable_in_order() {
        let help = BINARY.command::<Extra>().render_long_help().to_string();
        let expected = [
            ("--listen", "LISTEN_ADDR"),
            ("--extra", "EXTRA_FLAG"),
            ("--metrics-addr", "METRICS_ADDR"),
            ("--database-url", "DATABASE_URL"),
            (
                "--database-startup-timeout-secs",
                "DATABASE_STARTUP_TIMEOUT_SECS",
            ),
            ("--database-max-connections", "DATABASE_MAX_CONNECTIONS"),
            ("--log-format", "LOG_FORMAT"),
            ("--consul-http-addr", "CONSUL_HTTP_ADDR"),
            ("--consul-http-token", "CONSUL_HTTP_TOKEN"),
            ("--advertise-addr", "ADVERTISE_ADDR"),
            ("--consul-check-interval-secs", "CONSUL_CHECK_INTERVAL_SECS"),
        ];
        let mut from = 0;
        for (flag, env) in expected {
            let at = help[from..]
                .find(&format!("{flag} <"))
                .unwrap_or_else(|| panic!("{flag} missing or out of order in:\n{help}"));
            from += at;
            assert!(help[from..].contains(&format!("[env: {env}")), "{env}");
        }
        assert!(help.contains("[default: 127.0.0.1:50099]"), "{help}");
        assert!(help.starts_with("A thing."), "{help}");
    }
}

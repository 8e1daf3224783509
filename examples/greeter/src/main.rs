//! The `greeter-example` binary: the Greeter gRPC server and the REST/JSON gateway in front of
//! it, both on loopback, until Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run -p greeter-example -- --http-listen 127.0.0.1:8090 --grpc-listen 127.0.0.1:50090
//! ```
//!
//! Port 0 picks a free port; the addresses actually bound are printed on stdout.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::serve::ListenerExt as _;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The Greeter gRPC server and the REST/JSON gateway generated from its `google.api.http`
/// bindings.
#[derive(Debug, Parser)]
#[command(name = "greeter-example", version)]
struct Args {
    /// Address of the REST/JSON gateway (port 0: any free port).
    #[arg(long, env = "GREETER_HTTP_LISTEN", default_value = "127.0.0.1:8090")]
    http_listen: SocketAddr,
    /// Address of the gRPC server (port 0: any free port).
    #[arg(long, env = "GREETER_GRPC_LISTEN", default_value = "127.0.0.1:50090")]
    grpc_listen: SocketAddr,
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Completes once the stop signal is sent (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<()>) {
    let _ = stop.changed().await;
}

async fn run(args: Args) -> Result<(), String> {
    let grpc = TcpListener::bind(args.grpc_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.grpc_listen))?;
    let grpc_addr = grpc.local_addr().map_err(|e| e.to_string())?;
    let http = TcpListener::bind(args.http_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.http_listen))?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let router = greeter_example::gateway_router(greeter_example::lazy_channel(grpc_addr))
        .map_err(|e| e.to_string())?;

    let banner = format!(
        "gRPC server listening on http://{grpc_addr} ({service})\n\
         gateway listening on http://{http_addr} (Swagger UI at http://{http_addr}/docs)\n\
         try: curl 'http://{http_addr}/v1/greeter/Ada?greeting=Hi&times=2'\n",
        service = greeter_example::SERVICE_NAME,
    );
    // A closed stdout must not stop the servers (println! would panic on EPIPE).
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);

    // One signal stops both servers gracefully (in-flight requests finish).
    let (stop, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(());
    });
    let grpc = async {
        greeter_example::serve_grpc(grpc, stopped(stop_rx.clone()))
            .await
            .map_err(|e| format!("gRPC server: {e}"))
    };
    // TCP_NODELAY: small JSON responses must not wait for the client's delayed ACK.
    let http = http.tap_io(|stream| {
        // Best effort: a socket that refuses the option still serves, only slower.
        let _ = stream.set_nodelay(true);
    });
    let gateway = async {
        axum::serve(http, router)
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .await
            .map_err(|e| format!("gateway: {e}"))
    };
    tokio::try_join!(grpc, gateway)?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("greeter-example: {reason}");
            ExitCode::FAILURE
        }
    }
}

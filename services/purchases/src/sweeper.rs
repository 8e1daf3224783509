//! The sweeper: a background task that settles purchases left PENDING (by a crash between the
//! charge and the status update, or an answer payments never gave) and purges expired
//! idempotency keys. It runs as soon as the database is ready (so a restart settles what the
//! previous process left at once), then every sweep interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::grpc::Core;

/// How often the sweeper checks whether the database is ready, before its first run.
const READY_POLL: Duration = Duration::from_millis(100);

/// The running sweeper; aborted when dropped (with the service that owns it).
#[derive(Debug)]
pub struct SweeperTask(JoinHandle<()>);

impl Drop for SweeperTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the sweeper over `core`. Must run inside a tokio runtime.
pub(crate) fn spawn(core: Arc<Core>) -> SweeperTask {
    SweeperTask(tokio::spawn(async move {
        while !core.db.is_ready() {
            tokio::time::sleep(READY_POLL).await;
        }
        loop {
            match core.sweep().await {
                Ok(0) => tracing::debug!("sweep: nothing to settle"),
                Ok(settled) => tracing::info!(settled, "sweep settled PENDING purchases"),
                Err(err) => tracing::warn!(error = %err, "sweep failed; retrying next interval"),
            }
            tokio::time::sleep(core.settings.sweep_interval).await;
        }
    }))
}

//! What every service and the gateway share: config, database pool and migrations, discovery, health and shutdown.

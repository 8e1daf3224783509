//! A program a test runs as a separate process: a real binary of the workspace, or the test
//! binary itself in a child role. Its output is collected, so that a failure can show it, and a
//! test can wait for the line that says it is ready; it stops with SIGTERM (a clean exit is
//! asserted) or dies with SIGKILL (a crash test).

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How long [`ChildProcess::stop`] waits for the exit after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// A running child process and what it has written (stdout and stderr, line by line, in the
/// order they arrived). Killed if dropped while running.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl ChildProcess {
    /// Starts `command` as `name` (the name failure messages use), with stdin closed and both
    /// output streams collected (always drained, so the process never blocks on a full pipe).
    pub fn spawn(name: impl Into<String>, mut command: Command) -> anyhow::Result<Self> {
        let name = name.into();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, Arc::clone(&output));
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, Arc::clone(&output));
        }
        Ok(ChildProcess {
            name,
            child,
            output,
        })
    }

    /// The name given at [`ChildProcess::spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id (for `/proc/<pid>`, or to signal it).
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .with_context(|| format!("{} has already exited", self.name))
    }

    /// The exit status, if the process has exited (without waiting).
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("checking on {}", self.name))
    }

    /// Everything written so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first line written that `matches` (e.g. the "listening on" line), waiting for it at
    /// most `within`. Fails, with the output, if the process exits first or the time runs out.
    pub async fn wait_for_line(
        &mut self,
        within: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(line) = self.output().lines().find(|line| matches(line)) {
                return Ok(line.to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}) first:\n{}", self.name, self.output());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} wrote no such line within {within:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address a server announces with a `... listening on http://HOST:PORT ...` line (as
    /// the gateway binary does when started on port 0), waiting for it at most `within`.
    pub async fn wait_for_listening_address(
        &mut self,
        within: Duration,
    ) -> anyhow::Result<SocketAddr> {
        let line = self
            .wait_for_line(within, |line| listening_address(line).is_some())
            .await?;
        listening_address(&line).with_context(|| format!("no address in {line:?}"))
    }

    /// A value in KiB from the process's `/proc/<pid>/status` (`VmRSS`, `VmHWM`; Linux only).
    pub fn status_kib(&self, key: &str) -> anyhow::Result<u64> {
        let pid = self.pid()?;
        let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        text.lines()
            .find_map(|line| {
                let value = line.strip_prefix(key)?.strip_prefix(':')?;
                value.trim().trim_end_matches("kB").trim().parse().ok()
            })
            .with_context(|| format!("no {key} in /proc/{pid}/status"))
    }

    /// Sends SIGTERM and waits for the exit; fails unless it is a clean one. Returns the whole
    /// output.
    pub async fn stop(mut self) -> anyhow::Result<String> {
        let pid = self.pid()?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("running kill")?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        let status = self.wait(STOP_WAIT).await?;
        let output = self.output();
        anyhow::ensure!(status.success(), "{} exited {status}:\n{output}", self.name);
        Ok(output)
    }

    /// Kills the process with SIGKILL (no chance to clean up: what a crash test wants) and
    /// waits until it is gone.
    pub async fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        self.child
            .start_kill()
            .with_context(|| format!("killing {}", self.name))?;
        self.wait(STOP_WAIT).await
    }

    /// Waits at most `within` for the process to exit.
    async fn wait(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "{} still running after {within:?}:\n{}",
                    self.name,
                    self.output()
                )
            })?
            .with_context(|| format!("waiting for {}", self.name))
    }
}

/// The address after `listening on http://` in `line`.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on http://")?;
    rest.split(|c: char| c.is_whitespace() || c == '/')
        .next()?
        .parse()
        .ok()
}

/// Appends `stream`'s lines to `output` until it closes.
fn collect(stream: impl AsyncRead + Unpin + Send + 'static, output: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
            output.push_str(&line);
            output.push('\n');
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_address_is_read_from_a_banner_line() {
        assert_eq!(
            listening_address(
                "gateway listening on http://127.0.0.1:8080 (Swagger UI at http://127.0.0.1:8080/docs)"
            ),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(
            listening_address("listening on http://[::1]:9/"),
            "[::1]:9".parse().ok()
        );
        assert_eq!(
            listening_address("  upstream users -> http://127.0.0.1:1"),
            None
        );
        assert_eq!(listening_address("listening on http://nowhere"), None);
    }

    #[tokio::test]
    async fn reads_a_child_s_memory_and_output_and_stops_it() {
        if !std::path::Path::new("/proc/self/status").exists() {
            return;
        }
        let mut command = Command::new("sh");
        command.args(["-c", "echo listening on http://127.0.0.1:7; exec sleep 30"]);
        let mut child = ChildProcess::spawn("sh", command).expect("sh starts");
        let addr = child
            .wait_for_listening_address(Duration::from_secs(10))
            .await
            .expect("the line");
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 7)));
        let rss = child.status_kib("VmRSS").expect("VmRSS");
        let peak = child.status_kib("VmHWM").expect("VmHWM");
        assert!(rss > 0 && peak >= rss, "{rss} {peak}");
        assert!(child.status_kib("NoSuchKey").is_err());
        assert!(child.exited().expect("try_wait").is_none());
        // `sleep` dies of SIGTERM: not a clean exit, which `stop` reports.
        assert!(child.stop().await.is_err());
    }
}

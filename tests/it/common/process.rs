//! The real `confighash` binary as a child process, for signals and the offline commands.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// A `confighash serve --dev` child with its listening addresses read from its JSON log.
pub struct ServeProcess {
    pub child: Child,
    pub webhook: SocketAddr,
    pub ops: SocketAddr,
    logs: mpsc::Receiver<String>,
    /// Every log line read so far, start-up included.
    pub seen: Vec<String>,
}

/// The binary cargo built for this test; from an example (which cargo gives no path),
/// the `confighash` next to the examples directory of the same profile.
pub fn binary() -> Command {
    match option_env!("CARGO_BIN_EXE_confighash") {
        Some(path) => Command::new(path),
        None => {
            let example = std::env::current_exe().expect("current executable");
            let profile_dir = example.parent().and_then(Path::parent).expect("target/<profile>");
            Command::new(profile_dir.join("confighash"))
        }
    }
}

/// Runs `command` to completion with `stdin` written to it, capturing stdout and stderr.
pub fn run_with_stdin(command: &mut Command, stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

impl ServeProcess {
    /// Starts `serve --dev` with certificates in `cert_dir` and the example ConfigMaps.
    pub fn start(cert_dir: &Path, extra: &[&str]) -> Self {
        let examples = super::repo().join("examples/configmaps");
        let mut args = vec!["--configmaps-from", examples.to_str().expect("utf-8 path")];
        args.extend(extra);
        Self::start_with(cert_dir, &args, &[])
    }

    /// Starts `serve --dev` with certificates in `cert_dir`, more `args` and environment `envs`.
    pub fn start_with(cert_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = binary()
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args(["--log-format", "json", "--dev-cert-dir"])
            .arg(cert_dir)
            .args(args)
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn confighash");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut webhook, mut ops, mut seen) = (None, None, Vec::new());
        while webhook.is_none() || ops.is_none() {
            let Ok(line) = logs.recv_timeout(Duration::from_secs(20)) else {
                panic!("no start-up log line; got {seen:#?}");
            };
            seen.push(line.clone());
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let address = entry["address"].as_str().and_then(|a| a.parse().ok());
            match entry["message"].as_str() {
                Some(m) if m.starts_with("webhook listening") => webhook = address,
                Some(m) if m.starts_with("ops listening") => ops = address,
                _ => {}
            }
        }
        Self {
            child,
            webhook: webhook.expect("webhook"),
            ops: ops.expect("ops"),
            logs,
            seen,
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status();
        assert!(status.expect("kill").success());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every log line so far, waiting up to `wait` for each further one.
    pub fn drain_logs(&mut self, wait: Duration) -> Vec<String> {
        while let Ok(line) = self.logs.recv_timeout(wait) {
            self.seen.push(line);
        }
        self.seen.clone()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        _ = self.child.kill();
        _ = self.child.wait();
    }
}

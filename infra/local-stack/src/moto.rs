//! Starting moto server from the project's virtualenv (installed by `infra/install-tools.sh`), through
//! `infra/moto_server.py`, which serialises DynamoDB requests so that conditional writes are atomic as in AWS.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

pub struct MotoServer {
    pub endpoint: String,
    child: Child,
}

impl MotoServer {
    /// The virtualenv's Python and the launcher script. `$MOTO_PYTHON` overrides the interpreter.
    pub fn locate(repo_root: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        let launcher = repo_root.join("infra/moto_server.py");
        let python = match std::env::var("MOTO_PYTHON") {
            Ok(p) => PathBuf::from(p),
            Err(_) => repo_root.join(".local/venv/bin/python"),
        };
        if !python.exists()
            || !repo_root.join(".local/venv/bin/moto_server").exists() && std::env::var("MOTO_PYTHON").is_err()
        {
            bail!(
                "moto is not installed in {}; run `make tools` (infra/install-tools.sh) to install the pinned tools",
                repo_root.join(".local/venv").display()
            );
        }
        Ok((python, launcher))
    }

    /// Starts moto on a free loopback port and waits until it answers. `log` receives its output.
    pub async fn start((python, launcher): &(PathBuf, PathBuf), log: Option<&Path>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut cmd = Command::new(python);
        cmd.arg(launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match log {
            Some(path) => {
                let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                cmd.stdout(file.try_clone()?).stderr(file);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", launcher.display()))?;
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto_server exited during start-up ({status})");
            }
            if client.get(format!("{}/moto-api/", self.endpoint)).send().await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("moto_server did not answer on {} within 60 s", self.endpoint);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

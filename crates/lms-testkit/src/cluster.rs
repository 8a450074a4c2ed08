//! Throwaway PostgreSQL clusters for failover tests: `initdb` and `pg_ctl`
//! of the installed PostgreSQL, in a temporary directory, on a free port,
//! stopped and deleted when dropped. A standby is a `pg_basebackup` of a
//! primary, streaming from it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::ports::free_port;
use anyhow::{Context, bail};
use lms_config::PostgresUrl;
use tokio::process::Command;

/// One cluster the test owns.
#[derive(Debug)]
pub struct TempCluster {
    bin: PathBuf,
    /// Holds `data/` (the cluster, created by initdb or pg_basebackup with
    /// the permissions PostgreSQL insists on), the server log and the
    /// socket, so that a base backup copies neither of the latter.
    root: PathBuf,
    data: PathBuf,
    port: u16,
}

/// The newest installed PostgreSQL's programs (or `$LMS_TEST_PG_BIN`).
fn postgres_bin() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LMS_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's programs are not in /usr/lib/postgresql; set LMS_TEST_PG_BIN")?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no initdb under /usr/lib/postgresql/*/bin; set LMS_TEST_PG_BIN")
}

/// PostgreSQL refuses to run as root; tests running as root run its
/// programs as `postgres`.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

async fn run(bin: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    let path = bin.join(program);
    let mut command = if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&path);
        command
    } else {
        Command::new(&path)
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", path.display()))?;
    if !output.status.success() {
        bail!(
            "{program} {args:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A fresh directory the postgres user can write.
async fn root_dir(purpose: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "lms-cluster-{purpose}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    tokio::fs::create_dir_all(&dir).await?;
    if running_as_root() {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .await?;
        anyhow::ensure!(status.success(), "chown of {} failed", dir.display());
    }
    Ok(dir)
}

impl TempCluster {
    /// A new primary that accepts replication from localhost.
    pub async fn primary(purpose: &str) -> anyhow::Result<TempCluster> {
        let bin = postgres_bin()?;
        let root = root_dir(purpose).await?;
        let data = root.join("data");
        let path = data.to_string_lossy().into_owned();
        run(
            &bin,
            "initdb",
            &[
                "-D",
                &path,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )
        .await?;
        let cluster = TempCluster {
            bin,
            root,
            data,
            port: free_port()?,
        };
        cluster
            .append_config(
                "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n\
                 synchronous_commit = on\nshared_buffers = 32MB\nmax_connections = 60\n",
            )
            .await?;
        tokio::fs::write(
            cluster.data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
        )
        .await?;
        cluster.start().await?;
        Ok(cluster)
    }

    /// A hot standby streaming from `primary`.
    pub async fn standby_of(primary: &TempCluster, purpose: &str) -> anyhow::Result<TempCluster> {
        let root = root_dir(purpose).await?;
        let data = root.join("data");
        let path = data.to_string_lossy().into_owned();
        let port = primary.port.to_string();
        run(
            &primary.bin,
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &path,
                "-R",
                "-X",
                "stream",
                "--no-sync",
                // A spread checkpoint paces its writes over minutes when the
                // primary holds data; a test waits for none of that.
                "--checkpoint=fast",
            ],
        )
        .await?;
        let cluster = TempCluster {
            bin: primary.bin.clone(),
            root,
            data,
            port: free_port()?,
        };
        cluster.start().await?;
        Ok(cluster)
    }

    async fn append_config(&self, lines: &str) -> anyhow::Result<()> {
        let path = self.data.join("postgresql.conf");
        let mut config = tokio::fs::read_to_string(&path).await?;
        config.push_str(lines);
        tokio::fs::write(&path, config).await?;
        Ok(())
    }

    fn pg_ctl_args(&self) -> (String, String) {
        (
            self.data.to_string_lossy().into_owned(),
            format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {}",
                self.port,
                self.root.display()
            ),
        )
    }

    /// Starts the cluster and waits until it accepts connections.
    pub async fn start(&self) -> anyhow::Result<()> {
        let (data, options) = self.pg_ctl_args();
        let log_path = self.root.join("server.log");
        let log = log_path.to_string_lossy().into_owned();
        let started = run(
            &self.bin,
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start",
            ],
        )
        .await;
        if let Err(error) = started {
            // The server's own log says why; the directory goes with the cluster.
            let tail = tokio::fs::read_to_string(&log_path)
                .await
                .unwrap_or_default();
            bail!("{error}\nserver log:\n{tail}");
        }
        Ok(())
    }

    /// Stops the cluster at once, as a crash would (no checkpoint; committed
    /// work survives through the WAL).
    pub async fn stop(&self) -> anyhow::Result<()> {
        let (data, _) = self.pg_ctl_args();
        run(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        )
        .await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of `database` on this cluster, as user `postgres`.
    pub fn url(&self, database: &str) -> anyhow::Result<PostgresUrl> {
        PostgresUrl::parse(&format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.port
        ))
        .map_err(|error| anyhow::anyhow!("{error}"))
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        // Best effort: the cluster may already be stopped.
        let data = self.data.to_string_lossy().into_owned();
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if running_as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            command
        } else {
            std::process::Command::new(&pg_ctl)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

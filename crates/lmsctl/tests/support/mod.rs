//! `lmsctl` run as a real process against a database pair and a Redis
//! namespace of the test's own.

// Each test binary uses its own subset of this harness.
#![allow(dead_code)]

use std::process::{Output, Stdio};

use lms_config::Settings;
use lms_testkit::{TestDatabase, TestRedis, test_settings};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub struct Cli {
    pub lms: TestDatabase,
    pub legacy: TestDatabase,
    pub redis: TestRedis,
}

impl Cli {
    pub async fn new(purpose: &str) -> anyhow::Result<Cli> {
        Ok(Cli {
            lms: TestDatabase::create(&format!("{purpose}lms")).await?,
            legacy: TestDatabase::create(&format!("{purpose}edu")).await?,
            redis: TestRedis::new(purpose),
        })
    }

    /// The settings `lmsctl` sees, for in-process workers and engines.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        test_settings(
            self.lms.url(),
            self.legacy.url(),
            self.redis.url(),
            self.redis.namespace(),
        )
    }

    pub async fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_with(args, &[], None).await
    }

    /// Runs lmsctl and fails unless it exits 0, with what it printed.
    pub async fn run_ok(&self, args: &[&str]) -> anyhow::Result<Output> {
        let output = self.run(args).await?;
        anyhow::ensure!(
            output.status.success(),
            "lmsctl {args:?} failed: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        Ok(output)
    }

    /// Runs lmsctl with extra environment variables (which override the
    /// test's settings) and, optionally, stdin.
    pub async fn run_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> anyhow::Result<Output> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lmsctl"));
        command
            .args(args)
            .env_remove("LMSCTL_API_TOKEN")
            .env_remove("LMSCTL_API_ENDPOINT")
            .env_remove("LMS_CONFIG")
            .env("LMS_DATABASE__URL", self.lms.url().expose())
            .env("LMS_LEGACY__URL", self.legacy.url().expose())
            .env("LMS_REDIS__URL", self.redis.url())
            .env("LMS_REDIS__NAMESPACE", self.redis.namespace())
            .env("LMS_LOG__FILTER", "warn")
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(text) = stdin {
                pipe.write_all(text.as_bytes()).await?;
            }
            drop(pipe);
        }
        Ok(child.wait_with_output().await?)
    }

    /// Runs lmsctl on a terminal of its own (a pseudo-terminal from
    /// util-linux's `script`) and returns what the terminal showed, stdout
    /// and stderr together.
    pub async fn run_on_terminal(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Output> {
        let command_line = std::iter::once(env!("CARGO_BIN_EXE_lmsctl"))
            .chain(args.iter().copied())
            .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = Command::new("script");
        command
            .args([
                "--quiet",
                "--return",
                "--command",
                &command_line,
                "/dev/null",
            ])
            .env_remove("LMS_CONFIG")
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .env("LMS_DATABASE__URL", self.lms.url().expose())
            .env("LMS_LEGACY__URL", self.legacy.url().expose())
            .env("LMS_REDIS__URL", self.redis.url())
            .env("LMS_REDIS__NAMESPACE", self.redis.namespace())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(command.spawn()?.wait_with_output().await?)
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.redis.clean().await?;
        self.lms.drop_now().await?;
        self.legacy.drop_now().await
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

//! The harness shared by the end-to-end tests: the real `draftgate` binary on a free port, on
//! its own data directory, and small HTTP helpers for its routes.

#![allow(dead_code)] // each test binary uses its own subset

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use shared::providers::signature::draftgate_signature;

/// The runner's development secret of the generic webhook (the README names it).
pub const GENERIC_SECRET: &str = "dev-generic-secret";

pub struct Runner {
    pub child: Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example config's templates (with their folders), copied into `to/templates`.
#[allow(dead_code)]
pub fn copy_templates(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/templates"),
        &to.join("templates"),
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The runner's logs (stderr) of every start on `data`, appended in order.
pub fn log_path(data: &Path) -> std::path::PathBuf {
    data.join("runner.log")
}

/// Start `draftgate serve --no-sample` with `env` set and `unset` removed from its environment,
/// and wait until it answers. Its logs go to [`log_path`].
pub async fn start(data: &Path, port: u16, env: &[(&str, &str)], unset: &[&str]) -> Runner {
    start_with_args(data, port, env, unset, &[]).await
}

/// [`start`] with more arguments for `serve` (e.g. `--config FILE`).
pub async fn start_with_args(
    data: &Path,
    port: u16,
    env: &[(&str, &str)],
    unset: &[&str],
    args: &[&std::ffi::OsStr],
) -> Runner {
    std::fs::create_dir_all(data).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(data))
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_draftgate"));
    cmd.args([
        "serve",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--no-sample",
        "--data",
    ])
    .arg(data)
    .args(args)
    .env_remove("PUBLIC_BASE_URL")
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(log);
    for name in unset {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(aws) = e2e_on_aws(data) {
        if !args.iter().any(|a| *a == "--aws") {
            cmd.arg("--aws");
            for name in AWS_RESOURCE_SETTINGS {
                cmd.env_remove(name);
            }
            for (k, v) in aws {
                cmd.env(k, v);
            }
        }
    }
    let child = cmd.spawn().expect("the draftgate binary runs");
    let runner = Runner {
        child,
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    for _ in 0..200 {
        if runner
            .http
            .get(format!("{}/dev/clock", runner.base))
            .send()
            .await
            .is_ok()
        {
            return runner;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the runner did not start");
}

impl Runner {
    pub async fn get(&self, p: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{p}", self.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {p}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn post_json(&self, p: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{p}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "POST {p}: {}", r.status());
        r.json().await.unwrap()
    }

    /// The runner's clock.
    pub async fn now(&self) -> jiff::Timestamp {
        self.get("/dev/clock").await["now"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Runner {
    /// POST a body to a draftgate-signed webhook, signed at the runner's current time.
    pub async fn signed(&self, provider: &str, secret: &str, body: Value) -> (u16, Value) {
        let body = body.to_string();
        let ts = self.now().await.as_second().to_string();
        let r = self
            .http
            .post(format!("{}/webhooks/{provider}", self.base))
            .header("Content-Type", "application/json")
            .header("X-Draftgate-Timestamp", &ts)
            .header(
                "X-Draftgate-Signature",
                draftgate_signature(secret.as_bytes(), &ts, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Canonical events through the generic webhook; they must be accepted. Its summary.
    pub async fn generic_events(&self, events: Value) -> Value {
        let (status, summary) = self
            .signed("generic", GENERIC_SECRET, json!({ "events": events }))
            .await;
        assert_eq!(status, 200, "{summary}");
        summary
    }
}

/// An AWS API emulator for `draftgate serve --aws`: the one at `DRAFTGATE_TEST_AWS_ENDPOINT`
/// (the test command starts it), else moto started here from the workspace's `.venv` and
/// stopped when the returned guard drops.
pub struct Emulator {
    pub endpoint: String,
    pidfile: Option<tempfile::TempPath>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(pidfile) = &self.pidfile {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let _ = Command::new(root.join(".venv/bin/python"))
                .arg(root.join("infra/emulator.py"))
                .args(["stop", "--pidfile"])
                .arg(pidfile)
                .status();
        }
    }
}

pub fn emulator() -> Emulator {
    if let Ok(endpoint) = std::env::var("DRAFTGATE_TEST_AWS_ENDPOINT") {
        if !endpoint.is_empty() {
            return Emulator {
                endpoint,
                pidfile: None,
            };
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "`draftgate serve --aws` is tested on an AWS API emulator: run `bash scripts/test.sh` \
         (it installs and starts one) or set DRAFTGATE_TEST_AWS_ENDPOINT"
    );
    let pidfile = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let out = Command::new(python)
        .arg(root.join("infra/emulator.py"))
        .args(["serve", "--port", "0", "--pidfile"])
        .arg(&pidfile)
        .output()
        .expect("infra/emulator.py serve");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Emulator {
        endpoint: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        pidfile: Some(pidfile),
    }
}

/// The settings naming existing AWS resources; unset, `serve --aws` creates its own.
pub const AWS_RESOURCE_SETTINGS: [&str; 6] = [
    "PIPELINE_TABLE",
    "AUDIT_TABLE",
    "EVALUATE_QUEUE_URL",
    "DRAFT_QUEUE_URL",
    "CRM_WRITE_QUEUE_URL",
    "EVENT_BUS_NAME",
];

/// `draftgate explain DEAL --data DATA` on the store the runner on `data` used: with
/// `DRAFTGATE_E2E_AWS`, its DynamoDB tables (`--aws`). Answers (success, stdout, stderr).
pub fn explain(deal: &str, data: &Path) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_draftgate"));
    cmd.args(["explain", deal, "--data"]).arg(data);
    if let Some(aws) = e2e_on_aws(data) {
        cmd.arg("--aws");
        for name in AWS_RESOURCE_SETTINGS {
            cmd.env_remove(name);
        }
        cmd.envs(aws);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `DRAFTGATE_E2E_AWS=<emulator endpoint>` runs every end-to-end test on `serve --aws` instead
/// of the embedded store (`scripts/test.sh` runs them both ways). The resources are named after
/// the data directory, so a restart on the same directory finds the same tables and queues.
fn e2e_on_aws(data: &Path) -> Option<Vec<(String, String)>> {
    use std::hash::{Hash, Hasher};
    let endpoint = std::env::var("DRAFTGATE_E2E_AWS")
        .ok()
        .filter(|e| !e.is_empty())?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.canonicalize()
        .unwrap_or_else(|_| data.to_path_buf())
        .hash(&mut hasher);
    let emulator = Emulator {
        endpoint,
        pidfile: None,
    };
    Some(aws_env(
        &emulator,
        &format!("e2e{:012x}", hasher.finish() & 0xffff_ffff_ffff),
    ))
}

/// The settings `draftgate serve --aws` needs on `emulator`, its resources named `prefix-…`.
pub fn aws_env(emulator: &Emulator, prefix: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), emulator.endpoint.clone()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("DRAFTGATE_AWS_PREFIX".into(), prefix.into()),
    ]
}

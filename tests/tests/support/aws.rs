//! A local AWS API emulator for the adapter tests, and the resources the adapters need on it.
//!
//! `DRAFTGATE_TEST_AWS_ENDPOINT` points the tests at a running emulator; without it they start
//! `moto_server` (from `PATH` or the workspace's `.venv`) once per test binary on a free port.
//! Every test creates its own stack of tables and queues from `template.yaml` under a unique prefix, so tests never see each
//! other's items and a shared emulator needs no cleanup.

use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;

pub const ENDPOINT_VAR: &str = "DRAFTGATE_TEST_AWS_ENDPOINT";
const REGION: &str = "us-east-1";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The emulator every test in this binary talks to.
pub struct Emulator {
    pub endpoint: String,
    /// Whether the emulator is moto, whose `/moto-api/` can show what SES "sent".
    pub is_moto: bool,
    /// The moto process we started, and the pipe whose closing (when this test binary exits,
    /// however it exits) makes a watchdog stop it.
    _process: Option<Mutex<(Child, Child, ChildStdin)>>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

/// The emulator, started on first use. Panics with instructions when none is available: the
/// AWS half of the contract suite must never pass by not running.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.is_empty() => {
            let endpoint = endpoint.trim_end_matches('/').to_string();
            let is_moto = probe_moto(&endpoint);
            Emulator {
                endpoint,
                is_moto,
                _process: None,
            }
        }
        _ => start_moto(),
    })
}

/// The workspace venv's Python, where `scripts/test.sh` installs moto.
fn venv_python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.is_file().then_some(venv)
}

/// moto through `infra/emulator.py moto`, which serialises DynamoDB requests as DynamoDB's
/// atomic conditional writes need.
fn start_moto() -> Emulator {
    let Some(program) = venv_python() else {
        panic!(
            "the AWS adapter tests need an AWS API emulator, and the workspace's .venv has none. \
             Install it with\n    python3 -m venv .venv && .venv/bin/pip install -r \
             infra/requirements.txt\nor set {ENDPOINT_VAR} to a running emulator."
        )
    };
    let port = free_port();
    let log_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("create the moto log file");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/emulator.py");
    let mut moto = Command::new(&program)
        .arg(script)
        .args(["moto", "--host", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    // The watchdog waits for its stdin to close, which happens when this process ends.
    let mut watchdog = Command::new("sh")
        .args([
            "-c",
            "read _; kill \"$0\" 2>/dev/null",
            &moto.id().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the moto watchdog");
    let pipe = watchdog.stdin.take().expect("watchdog stdin");

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    loop {
        if let Some(status) = moto.try_wait().expect("poll moto_server") {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("moto_server exited with {status} before accepting connections:\n{log}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            let _ = moto.kill();
            panic!(
                "moto_server did not listen on {addr} within {STARTUP_TIMEOUT:?}; log: {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Emulator {
        endpoint: format!("http://{addr}"),
        is_moto: true,
        _process: Some(Mutex::new((moto, watchdog, pipe))),
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Whether the endpoint answers moto's own API.
fn probe_moto(endpoint: &str) -> bool {
    let Some(hostport) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect(hostport) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut stream, &mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
        && &head[9..12] == b"200"
}

/// SDK configuration for the emulator: fixed region and static test credentials.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&emulator().endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "draftgate-tests",
        ))
        .load()
        .await
}

/// A name no other test (in this run or an earlier one against the same emulator) uses.
pub fn unique_name(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{:x}{:x}", std::process::id(), nanos % 0xfff)
    });
    format!(
        "dg-{run}-{}-{what}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Pipeline and Audit tables and the FIFO queues with their DLQs, created by
/// `infra/emulator.py up` from `template.yaml` itself, so the tests exercise exactly the
/// deployed definitions (keys, indexes, projections, TTL, redrive). Answers the env lines the
/// script writes (`PIPELINE_TABLE`, `AUDIT_TABLE`, `EVALUATE_QUEUE_URL`, ...).
pub fn template_stack() -> HashMap<String, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv_python = root.join(".venv/bin/python");
    let python = if venv_python.exists() {
        venv_python
    } else {
        PathBuf::from("python3")
    };
    let prefix = unique_name("stack");
    let out = Command::new(&python)
        .arg(root.join("infra/emulator.py"))
        .args(["up", "--endpoint", &emulator().endpoint, "--prefix", &prefix, "--env-file", "-"])
        .arg("--template")
        .arg(root.join("template.yaml"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", REGION)
        .output()
        .expect("run infra/emulator.py (Python 3 with boto3 and PyYAML; `bash scripts/test.sh` installs them)");
    assert!(
        out.status.success(),
        "infra/emulator.py up failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub async fn create_standard_queue(client: &aws_sdk_sqs::Client, what: &str) -> String {
    client
        .create_queue()
        .queue_name(unique_name(what))
        .send()
        .await
        .expect("create a queue")
        .queue_url
        .expect("queue url")
}

pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("read queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("queue arn")
}

/// Receives raw message bodies from a queue until `want` arrived or a few empty polls passed.
pub async fn receive_bodies(client: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive from the target queue");
        bodies.extend(
            out.messages
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.body),
        );
        if bodies.len() >= want {
            break;
        }
    }
    bodies
}

/// A JSON document from moto's own API (`/moto-api/...`).
pub async fn moto_api(path: &str) -> serde_json::Value {
    let url = format!("{}/moto-api/{path}", emulator().endpoint);
    reqwest::get(&url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

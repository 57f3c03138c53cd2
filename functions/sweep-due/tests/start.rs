//! The real `sweep-due` binary, started the way Lambda starts it (a Runtime API to poll, the
//! template's tables and config object on the AWS emulator): it loads the founder's config from
//! S3, answers an invocation with JSON logs that carry the request id, and refuses to start on an
//! invalid config, naming the object, file and line.
//!
//! Needs the emulator that `scripts/test.sh` starts (`DRAFTGATE_TEST_AWS_ENDPOINT`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shared::adapters::s3_config::{push, s3_client};
use shared::config::ConfigBundle;

const REQUEST_ID: &str = "8f3c2a4e-1b7d-4e21-9c55-2f0a6d9b7e10";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn endpoint() -> String {
    std::env::var("DRAFTGATE_TEST_AWS_ENDPOINT").expect(
        "these tests start the function against the AWS emulator: run them with \
         `bash scripts/test.sh` (or set DRAFTGATE_TEST_AWS_ENDPOINT to a running moto_server)",
    )
}

/// The template's tables, queues and config bucket on the emulator, under a fresh prefix.
fn stack(prefix: &str) -> HashMap<String, String> {
    let venv = root().join(".venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let out = Command::new(python)
        .arg(root().join("infra/emulator.py"))
        .args([
            "up",
            "--endpoint",
            &endpoint(),
            "--prefix",
            prefix,
            "--env-file",
            "-",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("infra/emulator.py runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn push_config(uri: &str, edit: impl Fn(&str) -> String) {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let (_, mut bundle) = ConfigBundle::from_file(&root().join("config/draftgate.toml")).unwrap();
    let toml = bundle.files.get_mut("draftgate.toml").unwrap();
    *toml = edit(toml);
    push(&s3_client(&sdk), uri, &bundle).await.unwrap();
}

/// A Runtime API that hands out one scheduled event, then holds the next poll.
struct RuntimeApi {
    addr: String,
    responses: mpsc::Receiver<String>,
}

fn runtime_api(event: String) -> RuntimeApi {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut served = false;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            let event = event.clone();
            let first = !served;
            served = true;
            std::thread::spawn(move || serve(stream, event, first, tx));
        }
    });
    RuntimeApi {
        addr,
        responses: rx,
    }
}

fn serve(stream: TcpStream, event: String, mut give_event: bool, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if line.contains("/invocation/next") {
            if !give_event {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            give_event = false;
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: {REQUEST_ID}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:sweep-due\r\n\
                 Content-Length: {}\r\n\r\n{event}",
                event.len()
            )
            .unwrap();
        } else {
            tx.send(format!(
                "{} {}",
                line.trim(),
                String::from_utf8_lossy(&body)
            ))
            .unwrap();
            write!(out, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").unwrap();
        }
    }
}

fn start(stack: &HashMap<String, String>, api: &str, stdout: &Path) -> std::process::Child {
    let log = std::fs::File::create(stdout).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweep-due"));
    cmd.env_clear()
        .envs(stack)
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "sweep-due")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("DRAFTGATE_CONFIG_REFRESH_SECONDS", "60")
        .stdout(log)
        .stderr(Stdio::inherit());
    cmd.spawn().expect("the sweep-due binary runs")
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn the_function_starts_on_the_pushed_config_and_logs_json_with_the_request_id() {
    let stack = stack(&format!("fs{}", std::process::id()));
    let uri = stack["DRAFTGATE_CONFIG_S3_URI"].clone();
    push_config(&uri, |t| t.replace("after_hours = 72", "after_hours = 48")).await;
    let event = std::fs::read_to_string(root().join("events/sweep-due/scheduled.json")).unwrap();
    let api = runtime_api(event);
    // Kept after the run, for a look at what the function logged.
    let stdout = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sweep-due-start.jsonl");
    let mut child = start(&stack, &api.addr, &stdout);
    let response = api.responses.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let response = response.expect("the function answered the invocation");
    assert!(
        response.starts_with(&format!(
            "POST /2018-06-01/runtime/invocation/{REQUEST_ID}/response"
        )),
        "{response}"
    );
    assert!(response.contains("\"due_deals\":0"), "{response}");

    let lines = json_lines(&stdout);
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "config loaded" && l["config"] == uri.as_str()),
        "{lines:?}"
    );
    let done = lines
        .iter()
        .find(|l| l["message"] == "sweep done")
        .expect("the sweep logged its summary");
    assert_eq!(done["spans"][0]["requestId"], REQUEST_ID, "{done}");
    assert_eq!(done["level"], "INFO");
}

#[tokio::test]
async fn an_invalid_config_object_stops_the_function_naming_the_object_file_and_line() {
    let stack = stack(&format!("fb{}", std::process::id()));
    let uri = stack["DRAFTGATE_CONFIG_S3_URI"].clone();
    // Pushed around `draftgate config push`, which would have refused it.
    push_config(&uri, |t| {
        t.replace("contractsent = \"proposal\"", "contractsent = \"proposl\"")
    })
    .await;
    let api = runtime_api(String::from("{}"));
    let stdout = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sweep-due-refusal.jsonl");
    let mut child = start(&stack, &api.addr, &stdout);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the function kept running on an invalid config");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(78));
    assert!(api.responses.try_recv().is_err(), "no invocation was taken");
    let lines = json_lines(&stdout);
    let refusal = lines
        .iter()
        .find(|l| l["message"] == "refusing to start")
        .expect("the refusal is logged");
    let problem = refusal["problem"].as_str().unwrap();
    assert!(
        problem.contains(&format!("{uri}[draftgate.toml]:"))
            && problem.contains("maps to unknown stage `proposl`"),
        "{problem}"
    );
}

//! `draftgate check-config` on the real binary: `[drafting]` is checked as the environment
//! completes it, the way `serve` and the drafting function read it.

use std::path::Path;
use std::process::Command;

fn copy_config(to: &Path, drafting: &str) -> std::path::PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for entry in walk(&from) {
        let rel = entry.strip_prefix(&from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dest).unwrap();
    }
    let file = to.join("draftgate.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let start = text.find("[drafting]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    std::fs::write(
        &file,
        format!("{}{drafting}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    file
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn check(file: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_draftgate"));
    cmd.arg("check-config").arg(file);
    for name in [
        "DRAFTING_ENGINE",
        "DRAFTING_MODEL",
        "OPENAI_BASE_URL",
        "DRAFTING_GUARDRAIL_ID",
        "DRAFTING_GUARDRAIL_VERSION",
        "DRAFTING_DAILY_CALLS",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_environment_completes_drafting_and_check_config_says_who_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_config(dir.path(), "[drafting]\nengine = \"openai\"");
    let (ok, text) = check(&file, &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("needs a model: set [drafting] model, or DRAFTING_MODEL"),
        "{text}"
    );
    // Each problem on its own line, at the line of the key it is about, and counted.
    let written = std::fs::read_to_string(&file).unwrap();
    let engine_line = 1 + written
        .lines()
        .position(|l| l == "engine = \"openai\"")
        .unwrap();
    let at = format!("{}:{engine_line}: engine \"openai\"", file.display());
    assert_eq!(text.matches(&at).count(), 2, "{text}");
    assert!(text.contains("2 problem(s)"), "{text}");
    let (ok, text) = check(
        &file,
        &[
            ("DRAFTING_MODEL", "llama3.2"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
            ("DRAFTING_MAX_TOKENS", "0"),
        ],
    );
    assert!(
        !ok && text.contains("DRAFTING_MAX_TOKENS must be from 1 to 8192, got 0"),
        "{text}"
    );
    let (ok, text) = check(
        &file,
        &[
            ("DRAFTING_MODEL", "llama3.2"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
        ],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("drafts written by the model llama3.2 (openai)"),
        "{text}"
    );
    let (ok, text) = check(&file, &[("DRAFTING_ENGINE", "template")]);
    assert!(
        ok && text.contains("drafts written by the templates"),
        "{text}"
    );
    let (ok, text) = check(&file, &[("DRAFTING_ENGINE", "gpt4")]);
    assert!(
        !ok && text.contains("DRAFTING_ENGINE must be template, bedrock or openai, got `gpt4`"),
        "{text}"
    );

    let bad = copy_config(dir.path(), "[drafting]\nengine = \"gpt4\"\ndaily_calls = 0");
    let (ok, text) = check(&bad, &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("engine must be \"template\", \"bedrock\" or \"openai\", got \"gpt4\""),
        "{text}"
    );
}

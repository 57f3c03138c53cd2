//! `[drafting]`: who writes the drafts. `template` (the default) fills in the founder's
//! templates, with no model anywhere; `bedrock` asks a model on Amazon Bedrock in the account the
//! stack runs in; `openai` asks any OpenAI-compatible chat-completions endpoint. The environment
//! overrides the file (`DRAFTING_ENGINE`, `DRAFTING_MODEL`, …), so a deployment can switch the
//! engine without a config push.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Engine {
    #[default]
    Template,
    Bedrock,
    Openai,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Template => "template",
            Engine::Bedrock => "bedrock",
            Engine::Openai => "openai",
        }
    }

    pub fn parse(text: &str) -> Option<Engine> {
        match text.trim() {
            "" | "template" => Some(Engine::Template),
            "bedrock" => Some(Engine::Bedrock),
            "openai" => Some(Engine::Openai),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Engine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Engine::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "[drafting] engine must be \"template\", \"bedrock\" or \"openai\", got \"{text}\""
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drafting {
    #[serde(default)]
    pub engine: Engine,
    /// Bedrock: the model or inference-profile id; openai: the model's name at the endpoint.
    #[serde(default)]
    pub model: Option<String>,
    /// openai: the endpoint, ending in `/v1` (`{base_url}/chat/completions` is called).
    #[serde(default)]
    pub base_url: Option<String>,
    /// bedrock: a Bedrock Guardrail applied to every answer (with its version).
    #[serde(default)]
    pub guardrail_id: Option<String>,
    #[serde(default)]
    pub guardrail_version: Option<String>,
    /// The most a model may write for one draft (tokens).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// One draft's time limit, retries included (seconds).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
    /// Model calls per day (the founder's local day); past it, the templates write.
    #[serde(default = "default_daily_calls")]
    pub daily_calls: u32,
}

fn default_max_tokens() -> u32 {
    600
}
fn default_timeout() -> u32 {
    20
}
fn default_daily_calls() -> u32 {
    200
}

impl Default for Drafting {
    fn default() -> Self {
        Drafting {
            engine: Engine::Template,
            model: None,
            base_url: None,
            guardrail_id: None,
            guardrail_version: None,
            max_tokens: default_max_tokens(),
            timeout_seconds: default_timeout(),
            daily_calls: default_daily_calls(),
        }
    }
}

/// The environment variables that override `[drafting]`, with the field each sets.
pub const DRAFTING_ENV: [(&str, &str); 8] = [
    ("DRAFTING_ENGINE", "engine"),
    ("DRAFTING_MODEL", "model"),
    ("OPENAI_BASE_URL", "base_url"),
    ("DRAFTING_GUARDRAIL_ID", "guardrail_id"),
    ("DRAFTING_GUARDRAIL_VERSION", "guardrail_version"),
    ("DRAFTING_MAX_TOKENS", "max_tokens"),
    ("DRAFTING_TIMEOUT_SECONDS", "timeout_seconds"),
    ("DRAFTING_DAILY_CALLS", "daily_calls"),
];

/// A problem with `[drafting]`: the key it is about (its line is shown), and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftingProblem {
    pub key: Option<&'static str>,
    pub message: String,
}

impl std::fmt::Display for DraftingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The line of `key = …` in `text`'s `[drafting]` section, or of the section's header (`key`
/// `None`, or not in the file).
pub fn drafting_line(text: &str, key: Option<&str>) -> Option<usize> {
    let header = text.lines().position(|l| l.trim() == "[drafting]")?;
    let in_section = text
        .lines()
        .enumerate()
        .skip(header + 1)
        .take_while(|(_, l)| !l.trim_start().starts_with('['));
    let at_key = key.and_then(|key| {
        in_section
            .into_iter()
            .find(|(_, l)| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map(|(i, _)| i)
    });
    Some(at_key.unwrap_or(header) + 1)
}

impl Drafting {
    /// What is wrong with the settings as a file gives them, whatever the environment adds:
    /// values out of range, a base URL that is no URL, half a guardrail.
    pub fn field_problems(&self) -> Vec<DraftingProblem> {
        self.field_problems_from(&[])
    }

    /// [`Self::field_problems`], a value the environment gave (`from_env`: variable and key)
    /// named by its variable, at no line of the file.
    fn field_problems_from(&self, from_env: &[(&str, &'static str)]) -> Vec<DraftingProblem> {
        let mut out = Vec::new();
        let mut push = |key: &'static str, message: &dyn Fn(&str) -> String| {
            let env = from_env
                .iter()
                .find(|(_, k)| *k == key)
                .map(|(name, _)| *name);
            out.push(DraftingProblem {
                key: env.is_none().then_some(key),
                message: message(&env.map_or_else(|| format!("[drafting] {key}"), str::to_string)),
            });
        };
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        if let Some(url) = self.base_url.as_deref() {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains(char::is_whitespace)
            {
                push("base_url", &|said| {
                    format!("{said} must be an http(s) URL, got `{url}`")
                });
            }
        }
        if set(&self.guardrail_id) != set(&self.guardrail_version) {
            push("guardrail_id", &|said| {
                format!("{said} and guardrail_version go together")
            });
        }
        for (name, value, max, hint) in [
            ("max_tokens", self.max_tokens, 8192, ""),
            ("timeout_seconds", self.timeout_seconds, 300, ""),
            (
                "daily_calls",
                self.daily_calls,
                100_000,
                " (to stop asking the model, set engine = \"template\")",
            ),
        ] {
            if !(1..=max).contains(&value) {
                push(name, &|said| {
                    format!("{said} must be from 1 to {max}, got {value}{hint}")
                });
            }
        }
        out
    }

    /// What is wrong with these settings once the environment has had its say (empty:
    /// nothing): [`Self::field_problems`], and what the engine needs.
    pub fn problems(&self) -> Vec<DraftingProblem> {
        self.problems_from(&[])
    }

    fn problems_from(&self, from_env: &[(&str, &'static str)]) -> Vec<DraftingProblem> {
        let mut out = self.field_problems_from(from_env);
        let mut push = |key: &'static str, message: String| {
            out.push(DraftingProblem {
                key: Some(key),
                message,
            });
        };
        let engine = self.engine.name();
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        if self.engine != Engine::Template && !set(&self.model) {
            push(
                "engine",
                format!(
                    "engine \"{engine}\" needs a model: set [drafting] model, or DRAFTING_MODEL"
                ),
            );
        }
        if self.engine == Engine::Openai && self.base_url.is_none() {
            push(
                "engine",
                "engine \"openai\" needs the endpoint: set [drafting] base_url, or OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1)".into(),
            );
        }
        if set(&self.guardrail_id) && self.engine != Engine::Bedrock {
            push(
                "guardrail_id",
                format!(
                    "a guardrail applies with engine \"bedrock\" only (the engine is \"{engine}\"): remove guardrail_id, or DRAFTING_GUARDRAIL_ID"
                ),
            );
        }
        out
    }

    /// These settings with the environment's overrides ([`DRAFTING_ENV`]; an empty value
    /// overrides nothing), checked.
    pub fn with_env(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Drafting, Vec<DraftingProblem>> {
        let mut d = self.clone();
        let mut problems = Vec::new();
        let mut from_env = Vec::new();
        for (name, field) in DRAFTING_ENV {
            // Unset or empty: the file's setting stands (a stack passes every parameter, empty
            // when the founder chose none).
            let Some(value) = get(name).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            from_env.push((name, field));
            let text = || Some(value.trim().to_string());
            let number = |into: &mut u32| match value.trim().parse::<u32>() {
                Ok(n) => {
                    *into = n;
                    None
                }
                Err(_) => Some(DraftingProblem {
                    key: None,
                    message: format!("{name} must be a whole number, got `{value}`"),
                }),
            };
            match field {
                "engine" => match Engine::parse(&value) {
                    Some(e) => d.engine = e,
                    None => problems.push(DraftingProblem {
                        key: None,
                        message: format!(
                            "{name} must be template, bedrock or openai, got `{value}`"
                        ),
                    }),
                },
                "model" => d.model = text(),
                "base_url" => d.base_url = text(),
                "guardrail_id" => d.guardrail_id = text(),
                "guardrail_version" => d.guardrail_version = text(),
                "max_tokens" => problems.extend(number(&mut d.max_tokens)),
                "timeout_seconds" => problems.extend(number(&mut d.timeout_seconds)),
                _ => problems.extend(number(&mut d.daily_calls)),
            }
        }
        problems.extend(d.problems_from(&from_env));
        if problems.is_empty() {
            Ok(d)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(problems: Vec<DraftingProblem>) -> String {
        problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_overrides_the_file_and_the_result_is_checked() {
        let file: Drafting = toml::from_str(
            "engine = \"bedrock\"\nmodel = \"anthropic.claude-3-haiku-20240307-v1:0\"\ndaily_calls = 50",
        )
        .unwrap();
        assert!(file.problems().is_empty());
        let d = file
            .with_env(&env(&[
                ("DRAFTING_ENGINE", "openai"),
                ("DRAFTING_MODEL", "llama3.2"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
            ]))
            .unwrap();
        assert_eq!(
            (d.engine, d.model.as_deref(), d.daily_calls, d.max_tokens),
            (Engine::Openai, Some("llama3.2"), 50, 600)
        );
        let same = file
            .with_env(&env(&[("DRAFTING_ENGINE", ""), ("DRAFTING_MODEL", " ")]))
            .unwrap();
        assert_eq!(same, file, "empty values override nothing");
        let e = messages(
            file.with_env(&env(&[("DRAFTING_ENGINE", "openai")]))
                .unwrap_err(),
        );
        assert!(e.contains("needs the endpoint"), "{e}");
        let e = messages(
            Drafting::default()
                .with_env(&env(&[("DRAFTING_ENGINE", "gpt")]))
                .unwrap_err(),
        );
        assert_eq!(
            e,
            "DRAFTING_ENGINE must be template, bedrock or openai, got `gpt`"
        );
        // A bad value from the environment is named by its variable; every problem is told.
        let e = file
            .with_env(&env(&[
                ("DRAFTING_DAILY_CALLS", "0"),
                ("DRAFTING_MAX_TOKENS", "lots"),
                ("DRAFTING_ENGINE", "openai"),
            ]))
            .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        let e = messages(e);
        assert!(
            e.contains("DRAFTING_MAX_TOKENS must be a whole number, got `lots`"),
            "{e}"
        );
        assert!(
            e.contains("DRAFTING_DAILY_CALLS must be from 1 to 100000, got 0"),
            "{e}"
        );
        assert!(e.contains("needs the endpoint"), "{e}");
        // The environment completes what the file leaves out.
        let bare: Drafting = toml::from_str("engine = \"openai\"").unwrap();
        assert!(bare.field_problems().is_empty());
        assert!(!bare.problems().is_empty());
        let fixed = bare
            .with_env(&env(&[
                ("DRAFTING_MODEL", "llama3.2"),
                ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
            ]))
            .unwrap();
        assert_eq!(fixed.model.as_deref(), Some("llama3.2"));
        let off = bare
            .with_env(&env(&[("DRAFTING_ENGINE", "template")]))
            .unwrap();
        assert_eq!(off.engine, Engine::Template);
    }

    #[test]
    fn a_guardrail_needs_bedrock_and_both_its_parts() {
        let d: Drafting = toml::from_str(
            "engine = \"openai\"\nmodel = \"m\"\nbase_url = \"ftp://x\"\nguardrail_id = \"g1\"",
        )
        .unwrap();
        let p = messages(d.problems());
        assert!(p.contains("base_url must be an http(s) URL"), "{p}");
        assert!(
            p.contains("guardrail_id and guardrail_version go together"),
            "{p}"
        );
        assert!(p.contains("engine \"bedrock\" only"), "{p}");
        let e = toml::from_str::<Drafting>("engine = \"claude\"").unwrap_err();
        assert!(
            e.message()
                .contains("engine must be \"template\", \"bedrock\" or \"openai\", got \"claude\""),
            "{e}"
        );
        assert!(Drafting::default().problems().is_empty());
    }

    #[test]
    fn a_problem_points_at_its_key_or_the_section() {
        let text = "[founder]\nname = \"A\"\n\n[drafting]\nengine = \"openai\"\n  max_tokens = 0\n\n[limits]\nmax_tokens = 5\n";
        assert_eq!(drafting_line(text, Some("max_tokens")), Some(6));
        assert_eq!(drafting_line(text, Some("engine")), Some(5));
        assert_eq!(
            drafting_line(text, Some("model")),
            Some(4),
            "not set: the section"
        );
        assert_eq!(drafting_line(text, None), Some(4));
        assert_eq!(drafting_line("[founder]\n", Some("model")), None);
    }
}

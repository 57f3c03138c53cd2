//! The model's turns at a draft: writing a follow-up, reading a call's notes, preparing a
//! meeting brief. Each takes one of the day's model calls (`[drafting] daily_calls`) and leaves
//! what the templates and the labelled-line reader made whenever the model's work does not pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{draft_id, model, notes, voice, Drafter};
use crate::app::WorkError;
use crate::domain::{CallNote, DealEvent, Fact, Firing, ModelOutcome, ModelUse, TriggerKind};
use crate::drafting::Rendered;
use crate::ports::DraftWriter;

/// The model to ask; or, when it is not asked, what the draft says of it (`None`: there is no
/// model).
type Turn = Result<Arc<dyn DraftWriter>, Option<ModelUse>>;

impl Drafter {
    /// One of the day's model calls for `firing`'s draft (a retried message holds the slot it
    /// took); `None` without a model.
    async fn turn(&self, firing: &Firing, instead: &str) -> Result<Turn, WorkError> {
        let Some(writer) = &self.writer else {
            return Ok(Err(None));
        };
        let c = &self.core;
        let day = format!(
            "model:{}",
            crate::app::evaluate::budget_day(&c.config, c.clock.now())
        );
        let cap = self.drafting.daily_calls;
        if c.store.claim_budget(&day, &draft_id(firing), cap).await? {
            return Ok(Ok(writer.clone()));
        }
        tracing::info!(cap, "the day's model calls are spent");
        Ok(Err(Some(ModelUse {
            model: writer.model().to_string(),
            written: false,
            outcome: ModelOutcome::Capped,
            note: Some(format!(
                "The model was not asked: today's model calls are spent (at most {cap} a day: [drafting] daily_calls, or DRAFTING_DAILY_CALLS). {instead}"
            )),
            tokens: None,
        })))
    }

    /// A follow-up to the prospect written by the founder's model from the deal's facts and its
    /// recent conversation, when a model is configured and the template's draft is complete:
    /// `rendered` becomes the model's draft when every fact in it is sourced, and stays the
    /// template's otherwise (what the model did is returned for the page either way).
    pub(super) async fn with_model(
        &self,
        firing: &Firing,
        facts: &BTreeMap<String, Fact>,
        timeline: &[DealEvent],
        rendered: &mut Rendered,
    ) -> Result<Option<ModelUse>, WorkError> {
        let trigger = firing.trigger;
        let Some(writer) = self
            .writer
            .as_ref()
            .filter(|_| trigger.writes_to_prospect() && trigger != TriggerKind::ProposalDraft)
        else {
            return Ok(None);
        };
        if !rendered.missing.is_empty() {
            return Ok(Some(ModelUse {
                model: writer.model().to_string(),
                written: false,
                outcome: ModelOutcome::NotAsked,
                note: Some(format!(
                    "The model was not asked: the CRM did not provide {}, which a follow-up needs. This is the template's draft; fill the marked places in, or add the facts to the CRM.",
                    rendered.missing.join(", ")
                )),
                tokens: None,
            }));
        }
        let writer = match self.turn(firing, "This is the template's draft.").await? {
            Ok(writer) => writer,
            Err(instead) => return Ok(instead),
        };
        let conversation = model::conversation(timeline);
        let voice = voice::examples(&*self.core.store).await?;
        let brief = model::Brief {
            trigger,
            reason: trigger.label(),
            facts,
            template: rendered,
            conversation: &conversation.lines,
            prospect_said: &conversation.prospect,
            voice: &voice,
            max_tokens: self.drafting.max_tokens,
        };
        Ok(Some(match model::write(&*writer, &brief).await {
            model::Written::Draft {
                subject,
                body,
                usage,
                used,
            } => {
                rendered.subject = subject;
                rendered.body = body;
                rendered.used = used;
                usage
            }
            model::Written::SetAside(usage) => usage,
        }))
    }

    /// A call's free-text notes read by the founder's model (attendees, what was discussed,
    /// the next step and its date, a stage, an amount), each value then checked against the
    /// notes' own words; the labelled-line reader stands whatever the model does.
    pub(super) async fn read_call_notes(
        &self,
        firing: &Firing,
        note: &CallNote,
    ) -> Result<
        (
            Option<crate::app::writeback::NotesReading>,
            Option<ModelUse>,
        ),
        WorkError,
    > {
        let instead = "The changes below are read from labelled lines (Next step:, Due:, Stage:, Budget:) only.";
        let writer = match self.turn(firing, instead).await? {
            Ok(writer) => writer,
            Err(usage) => return Ok((None, usage)),
        };
        let model = writer.model().to_string();
        Ok(
            match notes::read_notes(&*writer, note, self.drafting.max_tokens).await {
                Ok((reading, tokens)) => (
                    Some(reading),
                    Some(ModelUse {
                        model: model.clone(),
                        written: true,
                        outcome: ModelOutcome::Written,
                        note: Some(format!(
                            "The model {model} read the call's notes; each change below quotes the notes' own words, and draftgate kept only what those words hold (labelled lines win)."
                        )),
                        tokens,
                    }),
                ),
                Err(why) => (
                    None,
                    Some(ModelUse {
                        model,
                        written: false,
                        outcome: ModelOutcome::Failed,
                        note: Some(format!("{why}. {instead}")),
                        tokens: None,
                    }),
                ),
            },
        )
    }

    /// A meeting brief's agenda, open questions and objections to expect, prepared by the
    /// founder's model from the deal's timeline: each point names the numbered entry it rests
    /// on and is kept only if that entry (or the deal's facts) holds every fact in it. The
    /// template's brief stands above it either way.
    pub(super) async fn with_brief(
        &self,
        firing: &Firing,
        facts: &BTreeMap<String, Fact>,
        timeline: &[DealEvent],
        rendered: &mut Rendered,
    ) -> Result<Option<ModelUse>, WorkError> {
        let conversation = model::conversation(timeline);
        if self.writer.is_none() || conversation.lines.is_empty() {
            return Ok(None);
        }
        let instead = "The brief is the timeline's lines only.";
        let writer = match self.turn(firing, instead).await? {
            Ok(writer) => writer,
            Err(usage) => return Ok(usage),
        };
        let model = writer.model().to_string();
        let usage = |outcome, note: String, tokens| ModelUse {
            model: model.clone(),
            written: outcome == ModelOutcome::Written,
            outcome,
            note: Some(note),
            tokens,
        };
        Ok(Some(
            match notes::prepare_brief(&*writer, &conversation, facts, self.drafting.max_tokens)
                .await
            {
                Ok(p) if p.kept > 0 => {
                    rendered.body = format!(
                        "{}\n\nPrepared by the model {model}; each line checked against the timeline entry it names:\n{}",
                        rendered.body.trim_end(),
                        p.text
                    );
                    usage(
                        ModelOutcome::Written,
                        format!(
                            "The agenda, open questions and objections at the end were prepared by the model {model}; each line was checked against the timeline entry it names ({} set aside).",
                            p.dropped
                        ),
                        p.tokens,
                    )
                }
                Ok(p) => usage(
                    ModelOutcome::Refused,
                    format!(
                        "The model's {} points were set aside: none held up against the entries they name. {instead}",
                        p.dropped
                    ),
                    p.tokens,
                ),
                Err(why) => usage(ModelOutcome::Failed, format!("{why}. {instead}"), None),
            },
        ))
    }
}

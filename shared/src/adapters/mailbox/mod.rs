//! The founder's own mailbox: Gmail and Outlook readers (reply detection) and senders (approved
//! mail from the founder's address, in the thread), and the OAuth that gives draftgate access.
//!
//! Reading and sending use separate grants: the webhook and sync functions hold a read-only
//! grant; only the approval function holds the one that can send.

pub mod api;
pub mod gmail;
pub mod oauth;
pub mod outlook;

use std::sync::Arc;

use crate::ports::Sender;
use crate::providers::mailbox::MailboxSource;
use crate::secret::Secret;

/// `MAIL_SENDER`: how approved mail leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailSender {
    Ses,
    Gmail,
    Outlook,
}

impl MailSender {
    pub fn parse(s: &str) -> Result<MailSender, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ses" => Ok(MailSender::Ses),
            "gmail" => Ok(MailSender::Gmail),
            "outlook" => Ok(MailSender::Outlook),
            other => Err(format!(
                "MAIL_SENDER must be ses, gmail or outlook, not `{other}`"
            )),
        }
    }
}

/// The mailbox readers the settings configure: Gmail with `GOOGLE_CLIENT_ID`,
/// `GOOGLE_CLIENT_SECRET`, `GMAIL_REFRESH_TOKEN` and a push credential (`GMAIL_PUSH_TOKEN`
/// and/or `GOOGLE_JWKS_URL`); Outlook with `MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET`,
/// `OUTLOOK_REFRESH_TOKEN` and `OUTLOOK_CLIENT_STATE`. Empty values count as unset.
pub fn readers(
    get: &dyn Fn(&str) -> Option<String>,
    public_base_url: &str,
) -> Vec<Arc<dyn MailboxSource>> {
    let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let mut out: Vec<Arc<dyn MailboxSource>> = Vec::new();
    let push_token = get("GMAIL_PUSH_TOKEN").map(Secret::new);
    let jwks_url = get("GOOGLE_JWKS_URL");
    if push_token.is_some() || jwks_url.is_some() {
        if let Some(api) = get("GMAIL_REFRESH_TOKEN").and_then(|t| gmail::api(&get, Secret::new(t)))
        {
            out.push(Arc::new(gmail::GmailMailbox::new(
                api,
                gmail::PushAuth {
                    token: push_token,
                    jwks_url,
                    service_account: get("GMAIL_PUSH_SERVICE_ACCOUNT"),
                },
                get("GMAIL_PUBSUB_TOPIC"),
            )));
        }
    }
    if let (Some(state), Some(api)) = (
        get("OUTLOOK_CLIENT_STATE"),
        get("OUTLOOK_REFRESH_TOKEN").and_then(|t| outlook::api(&get, Secret::new(t))),
    ) {
        out.push(Arc::new(outlook::OutlookMailbox::new(
            api,
            Secret::new(state),
            format!("{}/webhooks/outlook", public_base_url.trim_end_matches('/')),
        )));
    }
    out
}

/// The sender `MAIL_SENDER` names, for `gmail` or `outlook` (`None` for SES, which the approval
/// function builds itself). Its refresh token is `GMAIL_SEND_REFRESH_TOKEN` /
/// `OUTLOOK_SEND_REFRESH_TOKEN` where one process holds both grants (the local runner), else
/// `GMAIL_REFRESH_TOKEN` / `OUTLOOK_REFRESH_TOKEN` from the approval function's own secret.
pub fn sender(
    kind: MailSender,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Arc<dyn Sender>>, String> {
    let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let (prefix, app_keys) = match kind {
        MailSender::Ses => return Ok(None),
        MailSender::Gmail => ("GMAIL", ["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"]),
        MailSender::Outlook => (
            "OUTLOOK",
            ["MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET"],
        ),
    };
    let refresh = get(&format!("{prefix}_SEND_REFRESH_TOKEN"))
        .or_else(|| get(&format!("{prefix}_REFRESH_TOKEN")))
        .ok_or_else(|| {
            format!(
                "MAIL_SENDER={kind:?} needs {prefix}_REFRESH_TOKEN (run `draftgate connect {}`)",
                prefix.to_ascii_lowercase()
            )
        })?;
    if let Some(missing) = app_keys.iter().find(|k| get(k).is_none()) {
        return Err(format!("MAIL_SENDER={kind:?} needs {missing}"));
    }
    let secret = Secret::new(refresh);
    Ok(Some(match kind {
        MailSender::Gmail => Arc::new(gmail::GmailSender {
            api: gmail::api(&get, secret).expect("checked above"),
        }),
        MailSender::Outlook => Arc::new(outlook::OutlookSender {
            api: outlook::api(&get, secret).expect("checked above"),
        }),
        MailSender::Ses => unreachable!("returned above"),
    }))
}

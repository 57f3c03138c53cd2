//! Signed requests: constant-time comparison of decoded MACs, the 5-minute replay window, and
//! the timestamped hex scheme that Slack's v0 and draftgate's own webhooks share.

use jiff::Timestamp;
use subtle::ConstantTimeEq;

use crate::secret::{hmac_sha256, Secret};

/// Replay window for timestamped signatures.
pub const MAX_AGE_SECS: i64 = 300;
/// Allowance for a sender whose clock runs ahead of ours.
pub const MAX_SKEW_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("timestamp outside the 5-minute window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
    #[error("no secret is configured for this provider")]
    NotConfigured,
}

/// Constant-time comparison of decoded MACs.
/// Constant-time comparison of a MAC with the expected one.
pub(crate) fn matches(given: &[u8], expected: &[u8]) -> Result<(), SignatureError> {
    if given.len() == expected.len() && bool::from(given.ct_eq(expected)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

pub(crate) fn check_window(sent_ms: i64, now: Timestamp) -> Result<(), SignatureError> {
    let now_ms = now.as_millisecond();
    let age = now_ms - sent_ms;
    if !(-MAX_SKEW_SECS * 1000..=MAX_AGE_SECS * 1000).contains(&age) {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// A hex HMAC over a Unix-seconds timestamp and the body, in two headers, inside the 5-minute
/// window: Slack's v0 and draftgate's own scheme differ only in names, prefix and what is signed.
pub(crate) struct TimestampedHex {
    pub(crate) signature_header: &'static str,
    pub(crate) timestamp_header: &'static str,
    pub(crate) prefix: &'static str,
}

impl TimestampedHex {
    pub(crate) fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        now: Timestamp,
        mac: impl FnOnce(&str) -> [u8; 32],
    ) -> Result<(), SignatureError> {
        let signature = signature.ok_or(SignatureError::Missing(self.signature_header))?;
        let timestamp = timestamp
            .ok_or(SignatureError::Missing(self.timestamp_header))?
            .trim();
        let sent_s: i64 = timestamp
            .parse()
            .map_err(|_| SignatureError::Malformed(self.timestamp_header))?;
        check_window(sent_s.saturating_mul(1000), now)?;
        let hex_part = signature
            .trim()
            .strip_prefix(self.prefix)
            .ok_or(SignatureError::Malformed(self.signature_header))?;
        let given =
            hex::decode(hex_part).map_err(|_| SignatureError::Malformed(self.signature_header))?;
        matches(&given, &mac(timestamp))
    }
}

/// Slack's v0 request signature: `v0=` + hex(HMAC-SHA256(signing secret, `v0:{ts}:{body}`)).
pub fn slack_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(hmac_sha256(
            secret,
            &[b"v0:", timestamp.as_bytes(), b":", body]
        ))
    )
}

/// Verify a Slack request (`X-Slack-Signature`, `X-Slack-Request-Timestamp`, 5 minutes).
pub fn verify_slack(
    secret: &Secret,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now: Timestamp,
) -> Result<(), SignatureError> {
    let scheme = TimestampedHex {
        signature_header: "X-Slack-Signature",
        timestamp_header: "X-Slack-Request-Timestamp",
        prefix: "v0=",
    };
    scheme.verify(signature, timestamp, now, |ts| {
        hmac_sha256(
            secret.expose().as_bytes(),
            &[b"v0:", ts.as_bytes(), b":", body],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_v0_matches_slacks_published_example_and_the_reference_block_actions_body() {
        let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            slack_signature(secret.expose().as_bytes(), "1531420618", body.as_bytes()),
            sig
        );
        let at = |s: i64| Timestamp::from_second(s).unwrap();
        assert_eq!(
            verify_slack(
                &secret,
                body.as_bytes(),
                Some(sig),
                Some("1531420618"),
                at(1_531_420_618 + 60)
            ),
            Ok(())
        );
        assert_eq!(
            verify_slack(
                &secret,
                body.as_bytes(),
                Some(sig),
                Some("1531420618"),
                at(1_531_420_618 + 301)
            ),
            Err(SignatureError::Stale)
        );
        let forged = "v0=b2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            verify_slack(
                &secret,
                body.as_bytes(),
                Some(forged),
                Some("1531420618"),
                at(1_531_420_618)
            ),
            Err(SignatureError::Mismatch)
        );
        assert!(verify_slack(
            &secret,
            body.as_bytes(),
            None,
            Some("1531420618"),
            at(1_531_420_618)
        )
        .is_err());
        // The reference block_actions request, byte for byte.
        let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/payloads/slack-block-actions-request-body.x-www-form-urlencoded.txt")).unwrap();
        assert_eq!(
            slack_signature(secret.expose().as_bytes(), "1732183531", &body),
            "v0=98d51c913f12bb48cdb9e65d02dc75962e0168bc923c2debe5f7ff6cfea04301"
        );
    }
}

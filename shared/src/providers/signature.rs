//! Webhook signature schemes. Every comparison is constant-time on decoded bytes.

use base64::Engine;
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

fn check_window(sent_ms: i64, now: Timestamp) -> Result<(), SignatureError> {
    let now_ms = now.as_millisecond();
    let age = now_ms - sent_ms;
    if !(-MAX_SKEW_SECS * 1000..=MAX_AGE_SECS * 1000).contains(&age) {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// HubSpot's v3 rule for the signed URI: decode only these percent-escapes, leave the rest.
pub fn hubspot_decode_uri(uri: &str) -> String {
    const MAP: [(&str, char); 12] = [
        ("%3A", ':'),
        ("%2F", '/'),
        ("%3F", '?'),
        ("%40", '@'),
        ("%21", '!'),
        ("%24", '$'),
        ("%27", '\''),
        ("%28", '('),
        ("%29", ')'),
        ("%2A", '*'),
        ("%2C", ','),
        ("%3B", ';'),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let esc = rest.get(pos..pos + 3);
        match esc.and_then(|e| MAP.iter().find(|(k, _)| k.eq_ignore_ascii_case(e))) {
            Some((_, c)) => {
                out.push(*c);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The v3 signature HubSpot computes: base64(HMAC-SHA256(secret, method + uri + body + timestamp)).
pub fn hubspot_v3_signature(
    secret: &[u8],
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let mac = hmac_sha256(
        secret,
        &[
            method.as_bytes(),
            hubspot_decode_uri(uri).as_bytes(),
            body,
            timestamp.as_bytes(),
        ],
    );
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// Verify HubSpot's `X-HubSpot-Signature-v3` (base64) against the full request URI and raw body,
/// with `X-HubSpot-Request-Timestamp` in milliseconds inside the 5-minute window.
pub fn verify_hubspot_v3(
    secret: &Secret,
    method: &str,
    uri: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now: Timestamp,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing("X-HubSpot-Signature-v3"))?;
    let timestamp = timestamp.ok_or(SignatureError::Missing("X-HubSpot-Request-Timestamp"))?;
    let sent_ms: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed("X-HubSpot-Request-Timestamp"))?;
    check_window(sent_ms, now)?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed("X-HubSpot-Signature-v3"))?;
    // HubSpot's official SDKs sign the URI as sent; its docs describe decoding some escapes
    // first. Either form needs the secret, so both are accepted.
    let decoded = hubspot_decode_uri(uri);
    let mut forms = vec![uri];
    if decoded != uri {
        forms.push(&decoded);
    }
    let mut result = Err(SignatureError::Mismatch);
    for form in forms {
        let expected = hmac_sha256(
            secret.expose().as_bytes(),
            &[
                method.as_bytes(),
                form.as_bytes(),
                body,
                timestamp.as_bytes(),
            ],
        );
        if matches(&given, &expected).is_ok() {
            result = Ok(());
        }
    }
    result
}

/// PandaDoc: `?signature=` is hex(HMAC-SHA256(shared key as UTF-8, raw body)); no timestamp.
pub fn verify_pandadoc(
    secret: &Secret,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing("signature query parameter"))?;
    let given = hex::decode(signature.trim())
        .map_err(|_| SignatureError::Malformed("signature query parameter"))?;
    let expected = hmac_sha256(secret.expose().as_bytes(), &[body]);
    matches(&given, &expected)
}

/// draftgate's own scheme (inbox and generic webhooks): `X-Draftgate-Signature` =
/// `sha256=` + hex(HMAC-SHA256(secret, timestamp + "." + body)), `X-Draftgate-Timestamp` in seconds.
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

/// A hex HMAC over a Unix-seconds timestamp and the body, in two headers, inside the 5-minute
/// window: Slack's v0 and draftgate's own scheme differ only in names, prefix and what is signed.
struct TimestampedHex {
    signature_header: &'static str,
    timestamp_header: &'static str,
    prefix: &'static str,
}

impl TimestampedHex {
    fn verify(
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

pub fn draftgate_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret, &[timestamp.as_bytes(), b".", body]))
    )
}

/// A webhook signed with draftgate's own HMAC (the inbox and generic routes): the route name,
/// its secret, and how its body parses.
pub struct DraftgateSigned {
    pub name: &'static str,
    pub secret: Secret,
    pub parse: fn(&[u8]) -> Result<crate::providers::Parsed, crate::providers::ParseError>,
}

impl crate::providers::Provider for DraftgateSigned {
    fn name(&self) -> &'static str {
        self.name
    }

    fn verify(&self, incoming: &crate::providers::Incoming<'_>) -> Result<(), SignatureError> {
        verify_draftgate_request(&self.secret, incoming)
    }

    fn parse(
        &self,
        incoming: &crate::providers::Incoming<'_>,
    ) -> Result<crate::providers::Parsed, crate::providers::ParseError> {
        (self.parse)(incoming.body())
    }
}

/// [`verify_draftgate`] on a webhook request's headers.
pub fn verify_draftgate_request(
    secret: &Secret,
    incoming: &crate::providers::Incoming<'_>,
) -> Result<(), SignatureError> {
    verify_draftgate(
        secret,
        incoming.body(),
        incoming.header("x-draftgate-signature"),
        incoming.header("x-draftgate-timestamp"),
        incoming.now,
    )
}

pub fn verify_draftgate(
    secret: &Secret,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now: Timestamp,
) -> Result<(), SignatureError> {
    let scheme = TimestampedHex {
        signature_header: "X-Draftgate-Signature",
        timestamp_header: "X-Draftgate-Timestamp",
        prefix: "sha256=",
    };
    scheme.verify(signature, timestamp, now, |ts| {
        hmac_sha256(secret.expose().as_bytes(), &[ts.as_bytes(), b".", body])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &[u8] =
        include_bytes!("../../../tests/fixtures/payloads/hubspot-webhooks-deal-events.json");
    const PANDADOC: &[u8] =
        include_bytes!("../../../tests/fixtures/payloads/pandadoc-document-state-changed.json");

    fn ms(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn hubspot_v3_matches_the_public_sdk_vector() {
        // hubspot-api-python tests/spec/utils/test_signature.py::test_get_signature__v3
        let sig = hubspot_v3_signature(
            b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            "POST",
            "https://www.example.com/webhook_uri",
            b"{'example_field':'example_value'}",
            "15000000",
        );
        assert_eq!(sig, "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=");
    }

    #[test]
    fn hubspot_v3_verifies_the_reference_payload_byte_for_byte() {
        assert_eq!(PAYLOAD.len(), 688);
        let secret = Secret::new("0c8f3b6e-5d2a-4f71-9b3e-8a1d2c4e6f70");
        let uri = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/webhooks/hubspot";
        let sig = "yCr9TgSkPaofYoFal8DS9U/GDramdi8L9A130ZIeZwQ=";
        let ts = "1732183513000";
        assert_eq!(
            verify_hubspot_v3(
                &secret,
                "POST",
                uri,
                PAYLOAD,
                Some(sig),
                Some(ts),
                ms(1732183513000 + 1000)
            ),
            Ok(())
        );
        // One flipped byte, or the trailing newline dropped, fails.
        let mut flipped = PAYLOAD.to_vec();
        flipped[10] ^= 1;
        assert_eq!(
            verify_hubspot_v3(
                &secret,
                "POST",
                uri,
                &flipped,
                Some(sig),
                Some(ts),
                ms(1732183513000)
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hubspot_v3(
                &secret,
                "POST",
                uri,
                &PAYLOAD[..PAYLOAD.len() - 1],
                Some(sig),
                Some(ts),
                ms(1732183513000)
            ),
            Err(SignatureError::Mismatch)
        );
        // A proxy that turned '+' into ' ' in the header breaks it.
        let mangled = "yCr9TgSkPaofYoFal8DS9U/GDramdi8L9A130ZIeZwQ=".replace('/', " ");
        assert!(verify_hubspot_v3(
            &secret,
            "POST",
            uri,
            PAYLOAD,
            Some(&mangled),
            Some(ts),
            ms(1732183513000)
        )
        .is_err());
    }

    #[test]
    fn hubspot_v3_rejects_a_timestamp_older_than_five_minutes() {
        let secret = Secret::new("0c8f3b6e-5d2a-4f71-9b3e-8a1d2c4e6f70");
        let uri = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/webhooks/hubspot";
        let sig = Some("yCr9TgSkPaofYoFal8DS9U/GDramdi8L9A130ZIeZwQ=");
        let ts = Some("1732183513000");
        assert_eq!(
            verify_hubspot_v3(
                &secret,
                "POST",
                uri,
                PAYLOAD,
                sig,
                ts,
                ms(1732183513000 + 300_000)
            ),
            Ok(())
        );
        assert_eq!(
            verify_hubspot_v3(
                &secret,
                "POST",
                uri,
                PAYLOAD,
                sig,
                ts,
                ms(1732183513000 + 300_001)
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_hubspot_v3(&secret, "POST", uri, PAYLOAD, sig, None, ms(1732183513000)),
            Err(SignatureError::Missing("X-HubSpot-Request-Timestamp"))
        );
    }

    #[test]
    fn hubspot_v3_decodes_only_the_listed_escapes_in_the_uri() {
        let secret = Secret::new("0c8f3b6e-5d2a-4f71-9b3e-8a1d2c4e6f70");
        let uri = "https://hooks.example.com/webhooks/hubspot?tenant=acme%3Aeu&x=a%2Fb";
        assert_eq!(
            hubspot_decode_uri(uri),
            "https://hooks.example.com/webhooks/hubspot?tenant=acme:eu&x=a/b"
        );
        assert_eq!(hubspot_decode_uri("a+b%20c%3a"), "a+b%20c:");
        let sig = Some("vueff/VtLoWwZ0tOaIRsp5VB1NRtcA0DWxyI2DorI2M=");
        assert_eq!(
            verify_hubspot_v3(
                &secret,
                "POST",
                uri,
                PAYLOAD,
                sig,
                Some("1732183513000"),
                ms(1732183513000)
            ),
            Ok(())
        );
    }

    #[test]
    fn pandadoc_verifies_the_reference_payload_and_rejects_a_forgery() {
        assert_eq!(PANDADOC.len(), 1813);
        let secret = Secret::new("f3b1e8c2a9d64b7e9c0a5d2e1f4b7c8a");
        let sig = "b15b3ee27b0b21ad2700da87078a47c407fb33b4da51656716d4c0d378768a85";
        assert_eq!(verify_pandadoc(&secret, PANDADOC, Some(sig)), Ok(()));
        assert_eq!(
            verify_pandadoc(&secret, PANDADOC, Some(&sig.to_uppercase())),
            Ok(())
        );
        assert_eq!(
            verify_pandadoc(&secret, b"[]", Some(sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_pandadoc(&secret, PANDADOC, Some("zz")),
            Err(SignatureError::Malformed("signature query parameter"))
        );
    }

    #[test]
    fn draftgate_hmac_round_trips_and_enforces_the_window() {
        let secret = Secret::new("s3cret");
        let now = ms(1_800_000_000_000);
        let ts = "1800000000";
        let sig = draftgate_signature(b"s3cret", ts, b"{}");
        assert_eq!(
            verify_draftgate(&secret, b"{}", Some(&sig), Some(ts), now),
            Ok(())
        );
        assert_eq!(
            verify_draftgate(&secret, b"{ }", Some(&sig), Some(ts), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_draftgate(&secret, b"{}", Some(&sig), Some("1799999699"), now),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_draftgate(&secret, b"{}", Some(&sig[7..]), Some(ts), now),
            Err(SignatureError::Malformed("X-Draftgate-Signature"))
        );
    }

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

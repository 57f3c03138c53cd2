//! The providers' webhook signature schemes (HubSpot v3, PandaDoc, draftgate's own), on the
//! comparisons and windows of `signing`.

use base64::Engine;
use jiff::Timestamp;

use crate::secret::{hmac_sha256, Secret};
use crate::signing::{check_window, matches, SignatureError, TimestampedHex};

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
}

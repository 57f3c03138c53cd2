//! Review tokens: HMAC-signed, bound to one draft (or the queue) and one approver, expiring.
//! Format: `<expires unix secs>.<base64url approver>.<base64url mac>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jiff::Timestamp;
use subtle::ConstantTimeEq;

use crate::secret::hmac_sha256;
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Draft(&'a str),
    Queue,
}

impl Scope<'_> {
    fn label(&self) -> String {
        match self {
            Scope::Draft(id) => format!("draft:{id}"),
            Scope::Queue => "queue".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing review token")]
    Missing,
    #[error("malformed review token")]
    Malformed,
    #[error("review token is not valid for this link")]
    Forged,
    #[error("review token expired at {0}")]
    Expired(Timestamp),
}

#[derive(Clone)]
pub struct TokenSigner {
    key: Secret,
}

impl TokenSigner {
    pub fn new(key: Secret) -> Self {
        TokenSigner { key }
    }

    fn mac(&self, scope: &Scope<'_>, approver: &str, expires: i64) -> [u8; 32] {
        hmac_sha256(
            self.key.expose().as_bytes(),
            &[
                b"draftgate-review-v1\n",
                scope.label().as_bytes(),
                b"\n",
                approver.as_bytes(),
                b"\n",
                expires.to_string().as_bytes(),
            ],
        )
    }

    pub fn sign(&self, scope: Scope<'_>, approver: &str, expires_at: Timestamp) -> String {
        let exp = expires_at.as_second();
        format!(
            "{exp}.{}.{}",
            B64.encode(approver),
            B64.encode(self.mac(&scope, approver, exp))
        )
    }

    /// The approver a genuine token for this scope was issued to, expired or not: only to
    /// send that approver a fresh link in their own inbox, never to decide anything.
    pub fn verify_ignoring_expiry(
        &self,
        scope: Scope<'_>,
        token: Option<&str>,
    ) -> Result<String, TokenError> {
        self.verify(scope, token, Timestamp::MIN)
    }

    /// The approver the token was issued to, if it is genuine, for this scope, and not expired.
    pub fn verify(
        &self,
        scope: Scope<'_>,
        token: Option<&str>,
        now: Timestamp,
    ) -> Result<String, TokenError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
        let mut parts = token.split('.');
        let (Some(exp), Some(who), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let exp: i64 = exp.parse().map_err(|_| TokenError::Malformed)?;
        let approver = B64
            .decode(who)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(TokenError::Malformed)?;
        let given = B64.decode(mac).map_err(|_| TokenError::Malformed)?;
        let expected = self.mac(&scope, &approver, exp);
        if given.len() != expected.len() || !bool::from(given.ct_eq(&expected)) {
            return Err(TokenError::Forged);
        }
        let expires_at = Timestamp::from_second(exp).map_err(|_| TokenError::Malformed)?;
        if now >= expires_at {
            return Err(TokenError::Expired(expires_at));
        }
        Ok(approver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_is_bound_to_its_draft_and_expires() {
        let s = TokenSigner::new(Secret::new("k"));
        let tok = s.sign(
            Scope::Draft("d1"),
            "alex@example.com",
            t("2026-01-08T00:00:00Z"),
        );
        assert_eq!(
            s.verify(Scope::Draft("d1"), Some(&tok), t("2026-01-07T23:59:59Z"))
                .unwrap(),
            "alex@example.com"
        );
        assert_eq!(
            s.verify(Scope::Draft("d2"), Some(&tok), t("2026-01-01T00:00:00Z")),
            Err(TokenError::Forged)
        );
        assert_eq!(
            s.verify(Scope::Queue, Some(&tok), t("2026-01-01T00:00:00Z")),
            Err(TokenError::Forged)
        );
        assert!(matches!(
            s.verify(Scope::Draft("d1"), Some(&tok), t("2026-01-08T00:00:00Z")),
            Err(TokenError::Expired(_))
        ));
        assert_eq!(
            TokenSigner::new(Secret::new("other")).verify(
                Scope::Draft("d1"),
                Some(&tok),
                t("2026-01-01T00:00:00Z")
            ),
            Err(TokenError::Forged)
        );
    }

    #[test]
    fn a_tampered_approver_or_expiry_is_forged() {
        let s = TokenSigner::new(Secret::new("k"));
        let tok = s.sign(
            Scope::Draft("d1"),
            "alex@example.com",
            t("2026-01-08T00:00:00Z"),
        );
        let parts: Vec<&str> = tok.split('.').collect();
        let later = format!(
            "{}.{}.{}",
            parts[0].parse::<i64>().unwrap() + 3600,
            parts[1],
            parts[2]
        );
        assert_eq!(
            s.verify(Scope::Draft("d1"), Some(&later), t("2026-01-01T00:00:00Z")),
            Err(TokenError::Forged)
        );
        let other = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode("eve@example.com"),
            parts[2]
        );
        assert_eq!(
            s.verify(Scope::Draft("d1"), Some(&other), t("2026-01-01T00:00:00Z")),
            Err(TokenError::Forged)
        );
        assert_eq!(
            s.verify(
                Scope::Draft("d1"),
                Some("garbage"),
                t("2026-01-01T00:00:00Z")
            ),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            s.verify(Scope::Draft("d1"), None, t("2026-01-01T00:00:00Z")),
            Err(TokenError::Missing)
        );
    }
}

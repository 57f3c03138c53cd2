//! OAuth 2.0 for the mailbox APIs (Google, Microsoft identity platform) through the `oauth2`
//! crate: access tokens from a stored refresh token, refreshed a minute before they expire and
//! cached for the life of the container; and the authorization-code flow with PKCE that
//! `draftgate connect` runs on a loopback redirect.

use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use tokio::sync::Mutex;

use crate::providers::mailbox::MailError;
use crate::secret::Secret;

/// Refresh this long before the provider's expiry.
const EARLY: Duration = Duration::from_secs(60);

/// A registered OAuth client of a provider.
#[derive(Clone, Debug)]
pub struct OAuthApp {
    /// `Google` or `Microsoft`: names the provider in errors.
    pub provider: &'static str,
    pub client_id: String,
    pub client_secret: Secret,
    pub auth_url: String,
    pub token_url: String,
}

/// The `oauth2` crate's HTTP calls, made with the process's one reqwest client. Redirects are
/// not followed (a token endpoint never redirects; following one could leak the code).
async fn http(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let client = crate::providers::api::shared_http();
    let (parts, body) = request.into_parts();
    let resp = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .timeout(Duration::from_secs(10))
        .body(body)
        .send()
        .await
        .map_err(reqwest::Error::without_url)?;
    let mut out = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let bytes = resp.bytes().await.map_err(reqwest::Error::without_url)?;
    Ok(out.body(bytes.to_vec()).expect("a response from its parts"))
}

type Client = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

impl OAuthApp {
    fn client(&self) -> Result<Client, MailError> {
        let bad = |what: &str, e: oauth2::url::ParseError| {
            MailError::Invalid(format!("{} {what} is not a URL: {e}", self.provider))
        };
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.expose().to_string()))
            .set_auth_uri(AuthUrl::new(self.auth_url.clone()).map_err(|e| bad("auth URL", e))?)
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(|e| bad("token URL", e))?))
    }

    /// The consent page's URL for `scopes`, with a PKCE challenge; keep the returned
    /// [`Consent`] to check the redirect and exchange its code.
    pub fn consent(
        &self,
        redirect_uri: &str,
        scopes: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<Consent, MailError> {
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| MailError::Invalid(format!("redirect URI: {e}")))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client()?.set_redirect_uri(redirect.clone());
        let mut req = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge);
        for s in scopes {
            req = req.add_scope(Scope::new((*s).to_string()));
        }
        for (k, v) in extra {
            req = req.add_extra_param(*k, *v);
        }
        let (url, state) = req.url();
        Ok(Consent {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier: PkceCodeVerifier::new(verifier.secret().clone()),
            redirect,
        })
    }

    /// Exchange the code the consent redirect carried for a refresh token.
    pub async fn exchange(&self, consent: Consent, code: &str) -> Result<Secret, MailError> {
        let resp = self
            .client()?
            .set_redirect_uri(consent.redirect)
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(consent.verifier)
            .request_async(&http)
            .await
            .map_err(|e| self.token_error(e))?;
        resp.refresh_token()
            .map(|t| Secret::new(t.secret().clone()))
            .ok_or_else(|| {
                MailError::Invalid(format!(
                    "{} granted access without a refresh token (ask for offline access)",
                    self.provider
                ))
            })
    }

    fn token_error<RE: std::error::Error + 'static>(
        &self,
        e: RequestTokenError<RE, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
    ) -> MailError {
        match e {
            RequestTokenError::ServerResponse(r) => match r.error() {
                BasicErrorResponseType::InvalidGrant => MailError::Revoked(format!(
                    "{} refused the stored grant (revoked or expired)",
                    self.provider
                )),
                other => MailError::Invalid(format!(
                    "{} token endpoint answered `{}`",
                    self.provider,
                    other.as_ref()
                )),
            },
            RequestTokenError::Request(e) => MailError::Unavailable(
                format!("{} token endpoint unreachable: {e}", self.provider).into(),
            ),
            RequestTokenError::Parse(e, _) => MailError::Invalid(format!(
                "{} token endpoint answered unexpectedly: {e}",
                self.provider
            )),
            RequestTokenError::Other(e) => {
                MailError::Unavailable(format!("{} token endpoint: {e}", self.provider).into())
            }
        }
    }
}

/// A consent in progress: the URL to open, and what checks and completes the redirect.
pub struct Consent {
    pub url: String,
    /// The `state` the redirect must carry back (CSRF).
    pub state: String,
    verifier: PkceCodeVerifier,
    redirect: RedirectUrl,
}

/// Access tokens for one grant, cached per container.
pub struct TokenSource {
    app: OAuthApp,
    refresh: Secret,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl TokenSource {
    pub fn new(app: OAuthApp, refresh: Secret) -> Self {
        TokenSource {
            app,
            refresh,
            cached: Mutex::new(None),
        }
    }

    pub fn provider(&self) -> &'static str {
        self.app.provider
    }

    /// A valid access token: the cached one, or a fresh one from the refresh token.
    pub async fn access(&self) -> Result<Secret, MailError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = &*cached {
            if Instant::now() + EARLY < *until {
                return Ok(token.clone());
            }
        }
        let resp = self
            .app
            .client()?
            .exchange_refresh_token(&RefreshToken::new(self.refresh.expose().to_string()))
            .request_async(&http)
            .await
            .map_err(|e| self.app.token_error(e))?;
        let token = Secret::new(resp.access_token().secret().clone());
        let lifetime = resp.expires_in().unwrap_or(Duration::from_secs(3600));
        *cached = Some((token.clone(), Instant::now() + lifetime));
        tracing::debug!(
            provider = self.app.provider,
            lifetime_s = lifetime.as_secs(),
            "access token refreshed"
        );
        Ok(token)
    }

    /// The API refused the cached token (revoked session, clock skew): drop it.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

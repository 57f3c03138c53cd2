//! The founder's config from S3: a bundle uploaded by `draftgate config push`, read once at
//! start and then checked with a conditional GET (`If-None-Match`) at most once per refresh
//! interval. No object yet means the bundled config.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectError;

use crate::app::live::{ConfigFetchError, ConfigSource};
use crate::config::{Config, ConfigBundle};
use crate::error::CallFailed;

pub struct S3ConfigSource {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    /// The ETag of the object the current config came from; `None`: the bundled config.
    etag: Mutex<Option<String>>,
}

enum Fetched {
    Missing,
    NotModified,
    Object { etag: Option<String>, body: Vec<u8> },
}

/// `s3://bucket/key` into its parts.
pub fn parse_s3_uri(uri: &str) -> Result<(String, String), String> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("`{uri}` is not an s3://bucket/key URI"))?;
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(format!("`{uri}` names no object: use s3://bucket/key")),
    }
}

/// An S3 client from the environment's region, credentials and endpoint (`AWS_ENDPOINT_URL`).
pub async fn client() -> aws_sdk_s3::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    s3_client(&sdk)
}

/// An S3 client on `sdk`; with an endpoint override (an emulator, e.g. `localhost`) buckets are
/// addressed by path, since such endpoints have no per-bucket host names.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Upload a bundle (already validated) to `uri`; answers the object's new ETag.
pub async fn push(
    client: &aws_sdk_s3::Client,
    uri: &str,
    bundle: &ConfigBundle,
) -> Result<Option<String>, crate::error::Cause> {
    let (bucket, key) = parse_s3_uri(uri)?;
    let out = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(bundle.to_json().into_bytes().into())
        .send()
        .await
        .map_err(|e| CallFailed::new("PutObject", e))?;
    Ok(out.e_tag().map(str::to_string))
}

impl S3ConfigSource {
    pub fn new(client: aws_sdk_s3::Client, uri: &str) -> Result<Self, String> {
        let (bucket, key) = parse_s3_uri(uri)?;
        Ok(S3ConfigSource {
            client,
            bucket,
            key,
            etag: Mutex::new(None),
        })
    }

    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// At start: the config in the object, or `None` when no config has been pushed yet.
    pub async fn initial(&self) -> Result<Option<Config>, ConfigFetchError> {
        match self.fetch(None).await? {
            Fetched::Missing | Fetched::NotModified => Ok(None),
            Fetched::Object { etag, body } => self.adopt(etag, &body).map(Some),
        }
    }

    /// Validate the object's bundle and, only if it is valid, remember its ETag.
    fn adopt(&self, etag: Option<String>, body: &[u8]) -> Result<Config, ConfigFetchError> {
        let config = ConfigBundle::load(&self.uri(), body).map_err(ConfigFetchError::Invalid)?;
        self.set_etag(etag);
        Ok(config)
    }

    fn set_etag(&self, etag: Option<String>) {
        *self
            .etag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = etag;
    }

    async fn fetch(&self, if_none_match: Option<String>) -> Result<Fetched, ConfigFetchError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_if_none_match(if_none_match)
            .send()
            .await;
        match result {
            Ok(out) => {
                let etag = out.e_tag().map(str::to_string);
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| ConfigFetchError::Unavailable(Box::new(e)))?
                    .to_vec();
                Ok(Fetched::Object { etag, body })
            }
            Err(err) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                if status == Some(304) {
                    return Ok(Fetched::NotModified);
                }
                let missing = matches!(err.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
                    || err.code() == Some("NoSuchKey")
                    || status == Some(404);
                if missing {
                    return Ok(Fetched::Missing);
                }
                Err(ConfigFetchError::Unavailable(Box::new(CallFailed::new(
                    "GetObject",
                    err,
                ))))
            }
        }
    }
}

#[async_trait]
impl ConfigSource for S3ConfigSource {
    async fn changed(&self) -> Result<Option<Config>, ConfigFetchError> {
        let current = self
            .etag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match self.fetch(current.clone()).await? {
            Fetched::NotModified => Ok(None),
            Fetched::Missing if current.is_none() => Ok(None),
            // The object was removed: back to the bundled config, as a cold start would be.
            Fetched::Missing => {
                let config = Config::bundled().map_err(ConfigFetchError::Invalid)?;
                self.set_etag(None);
                Ok(Some(config))
            }
            Fetched::Object { etag, .. } if etag.is_some() && etag == current => Ok(None),
            Fetched::Object { etag, body } => self.adopt(etag, &body).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_uri_names_bucket_and_key() {
        assert_eq!(
            parse_s3_uri("s3://cfg-bucket/draftgate/config.json").unwrap(),
            (
                "cfg-bucket".to_string(),
                "draftgate/config.json".to_string()
            )
        );
        for bad in ["https://x/y", "s3://bucket", "s3://bucket/", "s3:///key"] {
            assert!(parse_s3_uri(bad).is_err(), "{bad}");
        }
    }
}

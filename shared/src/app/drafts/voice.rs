//! The founder's voice: the last few follow-ups the founder approved, as sent (edits included),
//! kept in one small record the drafter reads with one lookup. A model sees them as examples of
//! tone only; they are never a source of facts (the grounding check does not read them).

use crate::ports::{PipelineStore, StoreError};

/// The marker holding the examples (a JSON list of strings, newest first).
pub const MARKER: &str = "voice:examples";
/// How many sends are kept.
const KEEP: usize = 3;
/// The longest example kept (characters): the start of a long mail shows its voice.
const MAX_CHARS: usize = 1200;

/// Keep `body` (a follow-up the founder approved, as sent) among the examples.
pub async fn remember(store: &dyn PipelineStore, body: &str) -> Result<(), StoreError> {
    let body: String = body.trim().chars().take(MAX_CHARS).collect();
    if body.is_empty() {
        return Ok(());
    }
    let mut kept = examples(store).await?;
    kept.retain(|k| *k != body);
    kept.insert(0, body);
    kept.truncate(KEEP);
    let text = serde_json::to_string(&kept).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.set_marker(MARKER, &text).await
}

/// The kept examples, newest first (none when nothing was sent yet, or the record is unreadable).
pub async fn examples(store: &dyn PipelineStore) -> Result<Vec<String>, StoreError> {
    Ok(store
        .marker(MARKER)
        .await?
        .and_then(|text| serde_json::from_str::<Vec<String>>(&text).ok())
        .unwrap_or_default())
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_three_sends_are_kept_newest_first_each_once_and_trimmed() {
        let store = crate::adapters::embedded::EmbeddedStore::open_in_memory().unwrap();
        assert!(examples(&*store).await.unwrap().is_empty());
        for body in ["one", "two", "three", "two", "four", "  "] {
            remember(&*store, body).await.unwrap();
        }
        assert_eq!(examples(&*store).await.unwrap(), ["four", "two", "three"]);
        remember(&*store, &"x".repeat(5000)).await.unwrap();
        assert_eq!(examples(&*store).await.unwrap()[0].len(), MAX_CHARS);
    }
}

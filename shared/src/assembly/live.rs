//! A service whose config can change while the function keeps running: `draftgate config push`
//! uploads a new config, and each warm function picks it up within its refresh interval, without
//! a rebuild, a redeploy or a cold start. A config that fails validation never replaces a good
//! one (and a function that starts with an invalid one refuses to start, see `wiring`).

use std::sync::{Arc, Mutex, RwLock};

use jiff::{SignedDuration, Timestamp};

use super::Services;
use crate::app::live::ConfigSource;
use crate::error::Chain;

/// A service built from the [`Services`], rebuilt when the config changes.
pub struct Live<S> {
    base: Services,
    build: Box<dyn Fn(&Services) -> S + Send + Sync>,
    current: RwLock<Arc<S>>,
    source: Option<Arc<dyn ConfigSource>>,
    interval: SignedDuration,
    next_check: Mutex<Timestamp>,
}

impl<S> Live<S> {
    /// A service whose config never changes (the bundled config, or a file).
    pub fn fixed(
        services: Services,
        build: impl Fn(&Services) -> S + Send + Sync + 'static,
    ) -> Self {
        Self::new(services, build, None, SignedDuration::ZERO)
    }

    /// A service that asks `source` for a newer config at most once per `interval`, on the
    /// request path (one conditional GET; nothing when the interval has not passed).
    pub fn reloading(
        services: Services,
        build: impl Fn(&Services) -> S + Send + Sync + 'static,
        source: Arc<dyn ConfigSource>,
        interval: SignedDuration,
    ) -> Self {
        Self::new(services, build, Some(source), interval)
    }

    fn new(
        services: Services,
        build: impl Fn(&Services) -> S + Send + Sync + 'static,
        source: Option<Arc<dyn ConfigSource>>,
        interval: SignedDuration,
    ) -> Self {
        let first = Arc::new(build(&services));
        let next_check = services.core.clock.now() + interval;
        Live {
            base: services,
            build: Box::new(build),
            current: RwLock::new(first),
            source: source.filter(|_| interval > SignedDuration::ZERO),
            interval,
            next_check: Mutex::new(next_check),
        }
    }

    /// The service on the newest valid config.
    pub async fn get(&self) -> Arc<S> {
        if let Some(source) = &self.source {
            let now = self.base.core.clock.now();
            let due = {
                let mut next = self
                    .next_check
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let due = now >= *next;
                if due {
                    *next = now + self.interval;
                }
                due
            };
            if due {
                match source.changed().await {
                    Ok(Some(config)) => {
                        let services = self.base.with_config(Arc::new(config));
                        let service = Arc::new((self.build)(&services));
                        *self
                            .current
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = service;
                        tracing::info!("config changed: now running on the new config");
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %Chain(&e), "keeping the current config");
                    }
                }
            }
        }
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::adapters::clock::ManualClock;
    use crate::app::live::ConfigFetchError;
    use crate::config::Config;
    use crate::domain::TriggerKind;
    use async_trait::async_trait;

    struct Script(
        Mutex<VecDeque<Result<Option<Config>, ConfigFetchError>>>,
        Mutex<u32>,
    );

    #[async_trait]
    impl ConfigSource for Script {
        async fn changed(&self) -> Result<Option<Config>, ConfigFetchError> {
            *self.1.lock().unwrap() += 1;
            self.0.lock().unwrap().pop_front().unwrap_or(Ok(None))
        }
    }

    fn with_window(hours: u32) -> Config {
        let mut c = Config::bundled().unwrap();
        c.windows
            .get_mut(&TriggerKind::ProposalNoReply)
            .unwrap()
            .hours = hours;
        c
    }

    #[tokio::test]
    async fn a_new_config_applies_after_the_interval_and_an_invalid_one_never_does() {
        let store = crate::adapters::embedded::EmbeddedStore::open_in_memory().unwrap();
        let clock = Arc::new(ManualClock::new("2026-03-02T10:00:00Z".parse().unwrap()));
        let services = Services::build(
            crate::assembly::Adapters::embedded(&store, clock.clone()),
            crate::assembly::Settings::new(Arc::new(with_window(72))),
        );
        let source = Arc::new(Script(
            Mutex::new(VecDeque::from([
                Ok(Some(with_window(48))),
                Err(ConfigFetchError::Invalid(vec![])),
                Err(ConfigFetchError::Unavailable("timed out".into())),
            ])),
            Mutex::new(0),
        ));
        let live = Live::reloading(
            services,
            |s: &Services| s.core().config.window(TriggerKind::ProposalNoReply).hours,
            source.clone(),
            SignedDuration::from_secs(60),
        );
        assert_eq!(
            *live.get().await,
            72,
            "before the interval nothing is fetched"
        );
        assert_eq!(*source.1.lock().unwrap(), 0);
        clock.advance(SignedDuration::from_secs(61));
        assert_eq!(*live.get().await, 48, "the pushed config applies");
        assert_eq!(*live.get().await, 48);
        assert_eq!(*source.1.lock().unwrap(), 1, "one check per interval");
        clock.advance(SignedDuration::from_secs(61));
        assert_eq!(*live.get().await, 48, "an invalid config is not taken");
        clock.advance(SignedDuration::from_secs(61));
        assert_eq!(
            *live.get().await,
            48,
            "an unreachable source keeps the config"
        );
        assert_eq!(*source.1.lock().unwrap(), 3);
    }
}

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use crate::ports::Clock;

/// The system clock: the one place draftgate reads real time for business decisions.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to (tests, the local runner, replays).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    pub fn set(&self, to: Timestamp) {
        *self.now.lock().expect("clock lock") = to;
    }

    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        let mut now = self.now.lock().expect("clock lock");
        *now = now.checked_add(by).expect("clock overflow");
        *now
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("clock lock")
    }
}

/// Real time plus a movable offset: the local runner's clock. It keeps ticking, so signatures
/// made with the current time verify, while `/dev/clock` can jump days ahead.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: Mutex<SignedDuration>,
}

impl OffsetClock {
    pub fn new(offset: SignedDuration) -> Self {
        OffsetClock {
            offset: Mutex::new(offset),
        }
    }

    pub fn offset(&self) -> SignedDuration {
        *self.offset.lock().expect("clock lock")
    }

    /// Move the clock so that it reads `to` now; returns the new offset.
    pub fn set(&self, to: Timestamp) -> SignedDuration {
        let mut off = self.offset.lock().expect("clock lock");
        *off = to.duration_since(Timestamp::now());
        *off
    }

    pub fn advance(&self, by: SignedDuration) -> SignedDuration {
        let mut off = self.offset.lock().expect("clock lock");
        *off = off.checked_add(by).expect("clock overflow");
        *off
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp::now() + self.offset()
    }
}

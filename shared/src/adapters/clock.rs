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
        ManualClock { now: Mutex::new(start) }
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

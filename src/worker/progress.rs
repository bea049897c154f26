//! Sending events to the UI: every event wakes it; progress is throttled to about ten
//! events a second so that a fast loop never floods the channel.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use super::{Event, Waker};

/// Minimum time between two progress events of one job.
const PROGRESS_INTERVAL_MS: u64 = 100;

/// The worker's sending end.
#[derive(Clone)]
pub(super) struct Emitter {
    events: SyncSender<Event>,
    waker: Waker,
}

impl Emitter {
    pub(super) fn new(events: SyncSender<Event>, waker: Waker) -> Self {
        Self { events, waker }
    }

    /// Sends an event and wakes the UI; `false` when the UI is gone.
    pub(super) fn emit(&self, event: Event) -> bool {
        let ok = self.events.send(event).is_ok();
        (self.waker)();
        ok
    }

    /// A progress reporter for a job of `total` units (0 = unknown); sends its first event.
    pub(super) fn progress(&self, task: impl Into<String>, total: usize) -> Progress<'_> {
        let p = Progress {
            emitter: self,
            task: task.into(),
            total: AtomicUsize::new(total),
            done: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            start: Instant::now(),
        };
        p.send(0, total);
        p
    }
}

/// Throttled progress of one job; usable from several threads (rayon).
pub(super) struct Progress<'a> {
    emitter: &'a Emitter,
    task: String,
    total: AtomicUsize,
    done: AtomicUsize,
    last_ms: AtomicU64,
    start: Instant,
}

impl Progress<'_> {
    /// One more unit done.
    pub(super) fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.maybe_send(done, self.total.load(Ordering::Relaxed));
    }

    /// `done` of `total` units done.
    pub(super) fn set(&self, done: usize, total: usize) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.maybe_send(done, total);
    }

    fn maybe_send(&self, done: usize, total: usize) {
        let now = self.start.elapsed().as_millis() as u64;
        let last = self.last_ms.load(Ordering::Relaxed);
        let finished = total > 0 && done >= total;
        if (finished || now >= last + PROGRESS_INTERVAL_MS)
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.send(done, total);
        }
    }

    fn send(&self, done: usize, total: usize) {
        self.emitter.emit(Event::Progress {
            task: self.task.clone(),
            done,
            total,
        });
    }
}

//! The viewer's worker: one named thread that owns the device, the trained run (model and
//! text encoder), the open cohort and its embedding index. The UI sends [`Command`]s over a
//! bounded channel and drains [`Event`]s from another; after each event the worker calls the
//! waker (the UI's `request_repaint`). A training run gets its own named thread
//! (`brainclip-train`, started by the worker) so that browsing and queries go on while it
//! runs; it reports to the same channel and stops on the
//! [`CancelToken`](crate::train::CancelToken) the UI sent with it. Display slices are
//! sampled by a third thread ([`slices`]), which answers within milliseconds whatever the
//! worker is doing.
//!
//! Must not use egui.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;

#[cfg(feature = "gui")]
pub mod dialog;
mod jobs;
mod progress;
pub mod protocol;
mod queries;
pub mod slices;

pub use slices::{SampledSlice, SliceJob, SliceSampler};

pub use protocol::{
    CohortInfo, Command, DemoSetup, Event, Explanation, LoadedStudy, MapPoint, MatrixView,
    RankedStudy, RunInfo, Slot, StudyRow, Thumbnail,
};

/// Wakes the UI after an event (the UI passes `ctx.request_repaint()`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Commands waiting at most (the UI is told when the queue is full).
const COMMAND_QUEUE: usize = 64;
/// Events waiting at most; the worker blocks when the UI falls this far behind.
const EVENT_QUEUE: usize = 256;

/// Why a command was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The worker has many commands queued.
    #[error("the worker is busy ({COMMAND_QUEUE} requests queued); try again shortly")]
    Busy,
    /// The worker thread has ended.
    #[error("the worker has stopped")]
    Gone,
}

/// The UI's end of the worker.
pub struct WorkerHandle {
    commands: SyncSender<Command>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
    slices: SliceSampler,
}

impl WorkerHandle {
    /// Starts the worker thread (`brainclip-worker`) and the slice sampler
    /// (`brainclip-slices`). `device` is a device spec (`auto`, `cpu`, `cuda:N`, `metal`)
    /// resolved when a run is opened.
    pub fn spawn(device: &str, waker: Waker) -> std::io::Result<Self> {
        let slices = SliceSampler::spawn(waker.clone())?;
        let (commands, command_rx) = sync_channel(COMMAND_QUEUE);
        let (event_tx, events) = sync_channel(EVENT_QUEUE);
        let device = device.to_string();
        let thread = std::thread::Builder::new()
            .name("brainclip-worker".into())
            .spawn(move || jobs::Worker::new(device, event_tx, waker).run(&command_rx))?;
        Ok(Self {
            commands,
            events,
            thread: Some(thread),
            slices,
        })
    }

    /// The slice sampler.
    pub fn slices(&self) -> &SliceSampler {
        &self.slices
    }

    /// Queues a command without waiting.
    pub fn send(&self, command: Command) -> Result<(), SendError> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => SendError::Busy,
            TrySendError::Disconnected(_) => SendError::Gone,
        })
    }

    /// The events that have arrived, without waiting; `Err` once the worker has ended and
    /// every event was read.
    pub fn poll(&self) -> Result<Vec<Event>, SendError> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(e) => out.push(e),
                Err(TryRecvError::Empty) => return Ok(out),
                Err(TryRecvError::Disconnected) if out.is_empty() => return Err(SendError::Gone),
                Err(TryRecvError::Disconnected) => return Ok(out),
            }
        }
    }

    /// Blocks until the next event (tests and headless use), `None` once the worker ended.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Whether the worker thread is still running.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        // Dropping the command sender ends the worker's loop after its current job; the
        // thread is not joined so that closing the window never waits for a long job.
        drop(self.thread.take());
    }
}

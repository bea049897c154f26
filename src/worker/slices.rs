//! The viewer's slice sampler: a named thread (`brainclip-slices`) that samples the axial
//! display slices of open studies (and of their "why similar" heat maps) off the UI thread.
//! A 0.45 mm clinical study takes ~7 ms per sequence to sample, three or six sequences a
//! slice step, which would stall frames if the UI did it. It is not the worker, which can be
//! busy for minutes (an index, an explanation), nor rayon's pool, which preprocessing and
//! training keep busy: scrolling must follow the mouse.
//!
//! Jobs carry a ticket; the UI keeps the latest ticket per view and drops older results.
//! When jobs for one view queue up (fast scrolling), only the newest is sampled.
//!
//! Must not use egui.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use super::{Explanation, LoadedStudy, SendError, Slot, Waker};
use crate::io::display::sample_axial;

/// Jobs waiting at most (six views, a few steps each).
const JOB_QUEUE: usize = 32;
/// Results waiting at most; the sampler waits when the UI falls this far behind.
const RESULT_QUEUE: usize = 16;

/// One slice to sample.
#[derive(Debug)]
pub struct SliceJob {
    /// Which view: the slot and the sequence channel (0 DWI, 1 T2*, 2 FLAIR).
    pub view: (Slot, usize),
    /// Increases with every job the UI sends; the result carries it back.
    pub ticket: u64,
    /// The study.
    pub study: Arc<LoadedStudy>,
    /// World height of the slice.
    pub z_mm: f64,
    /// Radiological convention.
    pub radiological: bool,
    /// A heat map to sample on the same grid.
    pub heat: Option<Arc<Explanation>>,
}

/// A sampled slice on the study's display frame (row-major, width fastest, NaN outside).
#[derive(Debug)]
pub struct SampledSlice {
    /// The job's view.
    pub view: (Slot, usize),
    /// The job's ticket.
    pub ticket: u64,
    /// The sequence's values; `None` when its transform is singular.
    pub values: Option<Vec<f32>>,
    /// The heat map's values, when the job had one.
    pub heat: Option<Vec<f32>>,
}

impl SliceJob {
    /// Samples the slice (what the thread does; also usable directly).
    pub fn sample(&self) -> SampledSlice {
        let f = &self.study.frame;
        let values = self
            .study
            .volumes
            .get(self.view.1)
            .and_then(|v| sample_axial(v, f, self.z_mm, self.radiological));
        let heat = self
            .heat
            .as_ref()
            .and_then(|e| sample_axial(&e.heat, f, self.z_mm, self.radiological));
        SampledSlice {
            view: self.view,
            ticket: self.ticket,
            values,
            heat,
        }
    }
}

/// The UI's end of the sampler.
pub struct SliceSampler {
    jobs: SyncSender<SliceJob>,
    results: Receiver<SampledSlice>,
}

impl SliceSampler {
    /// Starts the sampler thread; `waker` is called after each result.
    pub fn spawn(waker: Waker) -> std::io::Result<Self> {
        let (jobs, job_rx) = sync_channel(JOB_QUEUE);
        let (result_tx, results) = sync_channel(RESULT_QUEUE);
        std::thread::Builder::new()
            .name("brainclip-slices".into())
            .spawn(move || run(&job_rx, &result_tx, &waker))?;
        Ok(Self { jobs, results })
    }

    /// Queues a job without waiting; a job not taken comes back with the reason.
    pub fn send(&self, job: SliceJob) -> Result<(), (SendError, SliceJob)> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(job) => (SendError::Busy, job),
            TrySendError::Disconnected(job) => (SendError::Gone, job),
        })
    }

    /// The results that have arrived, without waiting.
    pub fn poll(&self) -> Vec<SampledSlice> {
        self.results.try_iter().collect()
    }

    /// Blocks until the next result (tests), `None` after `timeout`.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<SampledSlice> {
        self.results.recv_timeout(timeout).ok()
    }
}

/// Samples until the UI's end is dropped.
fn run(jobs: &Receiver<SliceJob>, results: &SyncSender<SampledSlice>, waker: &Waker) {
    while let Ok(first) = jobs.recv() {
        for job in newest_per_view(first, jobs) {
            if results.send(job.sample()).is_err() {
                return;
            }
            waker();
        }
    }
}

/// `first` and every job already queued, keeping the newest job of each view, oldest view
/// first.
fn newest_per_view(first: SliceJob, jobs: &Receiver<SliceJob>) -> Vec<SliceJob> {
    let mut order: Vec<(Slot, usize)> = vec![first.view];
    let mut newest: HashMap<(Slot, usize), SliceJob> = HashMap::from([(first.view, first)]);
    for job in jobs.try_iter() {
        if !newest.contains_key(&job.view) {
            order.push(job.view);
        }
        newest.insert(job.view, job);
    }
    order
        .into_iter()
        .filter_map(|v| newest.remove(&v))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::io::display::DisplayFrame;
    use crate::io::{Affine, Volume};

    /// A 6 x 5 x 4 study whose sequence `c` holds `c * 100 + x + 10 * y + z` (identity
    /// transform, so display pixels sit on voxels).
    fn study() -> Arc<LoadedStudy> {
        let volume = |c: usize| {
            let data = (0..120)
                .map(|i| (c * 100 + i % 6 + 10 * ((i / 6) % 5) + i / 30) as f32)
                .collect();
            Volume::new([6, 5, 4], data, Affine::identity()).unwrap()
        };
        let volumes = [volume(0), volume(1), volume(2)];
        let frame = DisplayFrame::new(&volumes.iter().collect::<Vec<_>>(), 1).unwrap();
        Arc::new(LoadedStudy {
            study_id: "s".into(),
            label: None,
            report: "r".into(),
            volumes,
            auto_windows: [(0.0, 1.0); 3],
            frame,
            head_z_mm: (0.0, 3.0),
        })
    }

    fn job(study: &Arc<LoadedStudy>, seq: usize, ticket: u64, z_mm: f64) -> SliceJob {
        SliceJob {
            view: (Slot::Primary, seq),
            ticket,
            study: Arc::clone(study),
            z_mm,
            radiological: false,
            heat: None,
        }
    }

    #[test]
    fn the_thread_samples_each_job_and_wakes_the_ui() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        let sampler = SliceSampler::spawn(Arc::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        }))
        .unwrap();
        let s = study();
        sampler.send(job(&s, 2, 7, 3.0)).unwrap();
        let got = sampler.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!((got.view, got.ticket), ((Slot::Primary, 2), 7));
        let want = sample_axial(&s.volumes[2], &s.frame, 3.0, false).unwrap();
        assert_eq!(got.values.as_deref(), Some(want.as_slice()));
        // Neurological convention, row 0 anterior: pixel (0, 0) is voxel (0, 4, 3).
        assert_eq!(want[0], 200.0 + 40.0 + 3.0);
        assert!(got.heat.is_none());
        // The UI is woken right after the result is sent.
        let start = std::time::Instant::now();
        while wakes.load(Ordering::Relaxed) == 0 && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(wakes.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn only_the_newest_job_of_each_view_is_sampled() {
        let (tx, rx) = sync_channel(8);
        let s = study();
        tx.send(job(&s, 1, 2, 1.0)).unwrap();
        tx.send(job(&s, 0, 3, 0.0)).unwrap();
        tx.send(job(&s, 1, 4, 2.0)).unwrap();
        let first = job(&s, 1, 1, 0.0);
        let picked: Vec<_> = newest_per_view(first, &rx)
            .iter()
            .map(|j| (j.view.1, j.ticket))
            .collect();
        assert_eq!(picked, [(1, 4), (0, 3)]);
    }

    #[test]
    fn a_heat_map_is_sampled_on_the_same_grid() {
        let s = study();
        let heat = Explanation {
            query: "s".into(),
            other: "t".into(),
            heat: Volume::new([6, 5, 4], vec![0.5; 120], Affine::identity()).unwrap(),
            score: 0.9,
        };
        let mut j = job(&s, 0, 1, 1.0);
        j.heat = Some(Arc::new(heat));
        let got = j.sample();
        let (values, heat) = (got.values.unwrap(), got.heat.unwrap());
        assert_eq!(values.len(), heat.len());
        assert!(heat.iter().all(|h| *h == 0.5));
    }
}

//! Learning-rate schedules: warm-up + cosine (per step) and ReduceLROnPlateau (per epoch).

use serde::{Deserialize, Serialize};

use crate::config::Schedule;

/// A schedule with its state (saved in the resume checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    schedule: Schedule,
    base_lr: f64,
    steps_per_epoch: usize,
    epochs: usize,
    /// Plateau: the best validation loss so far (`None` before the first epoch; JSON has no
    /// infinity).
    best: Option<f64>,
    /// Plateau: epochs since `best` improved.
    bad_epochs: usize,
    /// Plateau: the current rate.
    current: f64,
}

impl LrSchedule {
    /// A fresh schedule for a run of `epochs` epochs of `steps_per_epoch` steps.
    pub fn new(schedule: Schedule, base_lr: f64, steps_per_epoch: usize, epochs: usize) -> Self {
        Self {
            schedule,
            base_lr,
            steps_per_epoch: steps_per_epoch.max(1),
            epochs: epochs.max(1),
            best: None,
            bad_epochs: 0,
            current: base_lr,
        }
    }

    /// Sets the run's length (a run extended on resume). The cosine is that of the longer
    /// run: where the old one had reached the floor the rate jumps back part-way up (a warm
    /// restart) and decays to the floor at the new last epoch, instead of training the added
    /// epochs at the floor.
    pub fn set_epochs(&mut self, epochs: usize) {
        self.epochs = epochs.max(1);
    }

    /// The rate for global step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        match self.schedule {
            Schedule::Cosine {
                warmup_epochs,
                min_lr_ratio,
            } => {
                let total = (self.steps_per_epoch * self.epochs) as f64;
                let warm = warmup_epochs * self.steps_per_epoch as f64;
                let s = step as f64;
                if s < warm {
                    self.base_lr * (s + 1.0) / warm
                } else {
                    let p = ((s - warm) / (total - warm).max(1.0)).clamp(0.0, 1.0);
                    let min = self.base_lr * min_lr_ratio;
                    min + 0.5 * (self.base_lr - min) * (1.0 + (std::f64::consts::PI * p).cos())
                }
            }
            Schedule::Plateau { .. } => self.current,
        }
    }

    /// Feeds an epoch's validation loss (ReduceLROnPlateau, mode min, relative threshold
    /// 1e-4, no cooldown); a no-op for the cosine schedule.
    pub fn end_epoch(&mut self, val_loss: f64) {
        let Schedule::Plateau { patience, factor } = self.schedule else {
            return;
        };
        if self.best.is_none_or(|best| val_loss < best * (1.0 - 1e-4)) {
            self.best = Some(val_loss);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs > patience {
                self.current *= factor;
                self.bad_epochs = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extended_cosine_run_decays_to_its_new_end() {
        let cosine = Schedule::Cosine {
            warmup_epochs: 1.0,
            min_lr_ratio: 0.01,
        };
        let mut s = LrSchedule::new(cosine, 1.0, 10, 4);
        assert!(s.lr_at(39) < 0.02, "near the floor at the end");
        s.set_epochs(8);
        // Step 40 is 30 of the 70 decay steps in: 0.01 + 0.495 (1 + cos(3/7 pi)) = 0.615.
        assert!((s.lr_at(40) - 0.615).abs() < 1e-3, "{}", s.lr_at(40));
        assert!(s.lr_at(79) < 0.02);
    }

    #[test]
    fn cosine_warms_up_then_decays_to_the_floor() {
        let s = LrSchedule::new(
            Schedule::Cosine {
                warmup_epochs: 1.0,
                min_lr_ratio: 0.1,
            },
            1.0,
            10,
            5,
        );
        assert!((s.lr_at(0) - 0.1).abs() < 1e-12);
        assert!((s.lr_at(9) - 1.0).abs() < 1e-12);
        assert!((s.lr_at(10) - 1.0).abs() < 1e-12);
        assert!(s.lr_at(30) < s.lr_at(20));
        assert!((s.lr_at(49) - 0.1).abs() < 0.01);
    }

    #[test]
    fn plateau_halves_after_patience_like_pytorch() {
        let mut s = LrSchedule::new(
            Schedule::Plateau {
                patience: 2,
                factor: 0.5,
            },
            0.01,
            10,
            100,
        );
        s.end_epoch(1.0);
        for _ in 0..2 {
            s.end_epoch(1.0);
            assert_eq!(s.lr_at(0), 0.01);
        }
        s.end_epoch(1.0); // third bad epoch > patience 2
        assert_eq!(s.lr_at(0), 0.005);
        s.end_epoch(0.5);
        assert_eq!(s.lr_at(0), 0.005);
    }
}

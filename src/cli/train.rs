//! `brainclip train --cohort DIR --out RUN [--config FILE] [--preset unet|paper] [--epochs N]
//! [--resume] ...`: contrastive training with a progress bar; the run folder gets
//! `config.json`, `metrics.jsonl`, `best.safetensors` and `last.safetensors`.
//!
//! Settings, lowest precedence first: the preset's defaults, the `--config` file (a
//! `config.json` of an earlier run works), then the flags given.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::{Positives, TowerPreset, TrainConfig};
use crate::model::device::{device_name, select_device};
use crate::train::run::EpochMetrics;
use crate::train::spec::TrainSpec;
use crate::train::{CancelToken, Observer, Outcome, TrainEvent, TrainRequest, train};

/// Arguments of `brainclip train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cohort folder (with `cohort.csv` and `studies/`).
    #[arg(long)]
    pub cohort: PathBuf,
    /// Run folder to create (or to continue with --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// JSON file with settings (a run's `config.json`); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Model preset: unet (ours) or paper (the paper's model and hyper-parameters).
    #[arg(long)]
    pub preset: Option<TowerPreset>,
    /// Maximum number of epochs (with --resume: extends the run; a resumed run keeps every
    /// other setting of its config.json, so the other settings cannot be given with it).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Continue the run in --out from its last finished epoch.
    #[arg(
        long,
        conflicts_with_all = [
            "config", "preset", "batch_size", "lr", "positives", "seed", "early_stop",
            "no_augment", "text_model",
        ]
    )]
    pub resume: bool,
    /// Studies per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Contrastive positives: pair, identical (same report text) or label (same class).
    #[arg(long)]
    pub positives: Option<Positives>,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after N epochs without a better validation retrieval (0 = never).
    #[arg(long)]
    pub early_stop: Option<usize>,
    /// Turn augmentation off.
    #[arg(long)]
    pub no_augment: bool,
    /// Text encoder folder (HuggingFace BERT or DistilBERT).
    #[arg(long)]
    pub text_model: Option<String>,
    /// Compute device: auto, cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The validated configuration of the flags (see [`TrainSpec`] for the precedence).
pub fn build_config(args: &Args) -> anyhow::Result<TrainConfig> {
    let spec = TrainSpec {
        config_file: args.config.clone(),
        preset: args.preset,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        positives: args.positives,
        seed: args.seed,
        early_stop: args.early_stop,
        no_augment: args.no_augment,
        full_augment: false,
        text_model: args.text_model.clone(),
    };
    Ok(spec.build()?)
}

struct CliObserver {
    bar: ProgressBar,
    quiet: bool,
    started: Instant,
}

impl CliObserver {
    fn print(&self, line: String) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }
}

impl Observer for CliObserver {
    fn event(&mut self, event: &TrainEvent) {
        match event {
            TrainEvent::Preparing(what) => self.print(format!("{what}...")),
            TrainEvent::Started {
                train,
                val,
                steps_per_epoch,
                epochs,
                start_epoch,
            } => {
                self.print(format!(
                    "training on {train} studies, validating on {val}; {steps_per_epoch} steps \
                     per epoch, epochs {start_epoch}..={epochs}"
                ));
                let total = (epochs + 1).saturating_sub(*start_epoch) * steps_per_epoch;
                self.bar.set_length(total as u64);
                self.started = Instant::now();
            }
            TrainEvent::Step {
                epoch,
                step,
                steps,
                loss,
                lr,
            } => {
                self.bar.set_message(format!(
                    "epoch {epoch} step {step}/{steps} loss {loss:.3} lr {lr:.1e}"
                ));
                self.bar.inc(1);
            }
            TrainEvent::Epoch { metrics: m, best } => self.print(epoch_line(m, *best)),
        }
    }
}

fn epoch_line(m: &EpochMetrics, best: bool) -> String {
    format!(
        "epoch {:3}  train {:.4}  val {:.4}  val R@1 {:.3}  R@5 {:.3}  score {:.3}  scale {:.1}  \
         lr {:.2e}  {:.0} s{}",
        m.epoch,
        m.train_loss,
        m.val_loss,
        m.val_r1,
        m.val_r5,
        m.val_score,
        m.temperature,
        m.lr,
        m.seconds,
        if best { "  *best" } else { "" }
    )
}

/// Runs `brainclip train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = build_config(&args)?;
    let device = select_device(&args.device)?;
    let target = if std::io::stderr().is_terminal() && !args.json {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(0), target);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed}, eta {eta})")
    {
        bar.set_style(style);
    }
    let mut observer = CliObserver {
        bar,
        quiet: args.json,
        started: Instant::now(),
    };
    observer.print(format!("device {}", device_name(&device)));
    let req = TrainRequest {
        cohort: args.cohort.clone(),
        out: args.out.clone(),
        config,
        resume: args.resume,
        resume_epochs: args.epochs,
    };
    let summary = train(&req, &device, &mut observer, &CancelToken::new())
        .with_context(|| format!("training failed: {}", args.out.display()))?;
    observer.bar.finish_and_clear();
    let elapsed = observer.started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "outcome": format!("{:?}", summary.outcome).to_lowercase(),
                "epochs": summary.metrics.len(),
                "best_epoch": summary.best_epoch,
                "best_val_score": summary.best_score,
                "seconds": elapsed,
                "run": args.out,
            })
        );
    } else {
        let how = match summary.outcome {
            Outcome::Completed => "finished",
            Outcome::EarlyStopped => "stopped early",
            Outcome::Cancelled => "cancelled",
        };
        println!(
            "{how} after {} epochs in {elapsed:.0} s; best epoch {} (val score {:.3}) -> {}",
            summary.metrics.len(),
            summary.best_epoch,
            summary.best_score,
            args.out.join(crate::train::run::BEST_FILE).display()
        );
    }
    Ok(())
}

//! Arguments shared by the commands that use a trained run (`eval`, `index`, `query`,
//! `classify`), and opening the run once they are parsed.

use std::path::PathBuf;

use anyhow::Context;

use crate::model::device::select_device;
use crate::train::session::Session;

/// Which run, which text encoder, which device.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Run folder (with config.json and best.safetensors).
    #[arg(long)]
    pub run: PathBuf,
    /// Text encoder folder, if not where the run's config.json says.
    #[arg(long)]
    pub text_model: Option<PathBuf>,
    /// Compute device: auto, cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl RunArgs {
    /// Opens the run for inference.
    pub fn open(&self) -> anyhow::Result<Session> {
        let device = select_device(&self.device)?;
        Session::open(&self.run, self.text_model.as_deref(), &device)
            .with_context(|| format!("cannot open the run {}", self.run.display()))
    }
}

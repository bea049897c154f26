//! The system folder dialog, off the UI thread: the dialog blocks until the user answers,
//! so it runs on its own named thread and the answer comes back over a channel.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};

use super::Waker;

/// Opens a folder picker; the receiver gets the chosen folder (`None` when cancelled).
pub fn pick_folder(waker: Waker) -> std::io::Result<Receiver<Option<PathBuf>>> {
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new()
        .name("brainclip-dialog".into())
        .spawn(move || {
            let choice = rfd::FileDialog::new()
                .set_title("Open a cohort, run or study folder")
                .pick_folder();
            // The UI may have closed meanwhile; nothing to do then.
            let _ = tx.send(choice);
            waker();
        })?;
    Ok(rx)
}

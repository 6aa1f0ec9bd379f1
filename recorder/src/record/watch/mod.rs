//! Watch: what a thread is doing while it is stuck in one poll. The [`watchdog`]'s
//! thread looks at lanes polling for long (from their lane states, without touching the
//! workers) and records what the kernel says of their threads; with [`stacks`] on, it
//! also captures where in the code they are.
//!
//! Watch reads the store's lanes and writes records through it, on its own lane; a dump
//! asks it for one more look ([`Watch::look_now`]) and for the captured stacks.

pub(crate) mod stacks;
pub(crate) mod watchdog;

use std::sync::Arc;

use super::capture::Capture;
use super::store::Store;

/// The watch stage's state, over the capture stage (whose store it records into).
pub(crate) struct Watch {
    pub(crate) capture: Arc<Capture>,
    /// The long-poll watchdog's settings and state (`None`: off).
    pub(crate) watchdog: Option<watchdog::Watchdog>,
    /// Stacks captured of threads stuck in long polls (`None`: not captured).
    pub(crate) stacks: Option<stacks::Stacks>,
}

impl Watch {
    pub(crate) fn store(&self) -> &Store {
        &self.capture.store
    }
}

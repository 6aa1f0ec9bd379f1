//! Dump: the ring and the tables read into a [`Dump`](crate::Dump) ([`snapshot`]),
//! written atomically to a file ([`file`]), on a panic or a signal ([`triggers`]) or when
//! asked; code addresses named off the panicking thread ([`symbolize`]).
//!
//! A dump never stops a writer: it reads the ring without locks, the task slots under
//! their sequence numbers, and only tries the locks a panicking thread might hold.

pub(crate) mod file;
pub(crate) mod snapshot;
pub(crate) mod symbolize;
pub(crate) mod triggers;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::capture::Capture;
use super::store::Store;
use super::watch::Watch;

/// The dump stage's state, over the watch stage: where dumps go and what has fired.
pub(crate) struct Dumper {
    pub(crate) watch: Arc<Watch>,
    /// The dump path template (`{pid}`, `{time}`, `{program}`).
    pub(crate) dump_path: String,
    /// The panic hook has dumped once.
    pub(crate) panic_dumped: AtomicBool,
    pub(crate) signal_handle: std::sync::Mutex<Option<triggers::SignalHandle>>,
}

impl Dumper {
    pub(crate) fn capture(&self) -> &Arc<Capture> {
        &self.watch.capture
    }

    pub(crate) fn store(&self) -> &Store {
        &self.watch.capture.store
    }
}

impl Drop for Dumper {
    fn drop(&mut self) {
        if let Ok(mut h) = self.signal_handle.lock()
            && let Some(h) = h.take()
        {
            h.close();
        }
    }
}

//! The crash-surviving ring: the ring's blocks, plus lane and task names, in a shared file
//! mapping (by default on tmpfs, `/dev/shm`). When the process dies, however it dies, the
//! pages stay in the page cache and `dial9-tui` reads them back. Layout: `format::ring_file`.
//!
//! Why tmpfs: a disk-backed shared mapping is written back by the kernel, and a page under
//! writeback takes a fault on the next store, which stalls the recording thread; tmpfs
//! pages are never written back. The file survives the process's death, not a reboot or a
//! kernel crash.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use crate::format::ThreadInfo;
use crate::format::ring_file::*;

use super::ring::Ring;

/// A string (lane or task name) not yet written to the ring file's string area. Distinct
/// from [`NO_STRING`], which the file itself uses for "no string" or "area full".
pub(crate) const NOT_PERSISTED: u32 = u32::MAX - 1;

/// Bumped in every forked child: a recorder made before the fork must not write into its
/// parent's mapping, while one made in the child (after the fork) may write to its own.
pub(crate) static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// The writer's side of a ring file: where the name areas are, and the lock that tells
/// readers the process is alive.
pub(crate) struct Persist {
    path: PathBuf,
    /// Holds the exclusive lock for the life of the recorder.
    _file: File,
    base: *mut u8,
    lanes_at: usize,
    tasks_at: usize,
    task_slots: usize,
    strings_at: usize,
    strings_len: usize,
    pid: u32,
    /// `FORK_GENERATION` when the file was made; another value means we are a forked child.
    generation: u64,
}

// SAFETY: `base` points into the mapping owned by the recorder's `Ring`, which lives as
// long as this; all shared areas are written through atomics or before publication.
unsafe impl Send for Persist {}
unsafe impl Sync for Persist {}

/// Directory used by `Builder::persist_ring_default`: tmpfs where it exists.
pub(crate) fn default_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

#[cfg(unix)]
fn register_atfork() {
    static ATFORK: std::sync::Once = std::sync::Once::new();
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
}

#[cfg(not(unix))]
fn register_atfork() {}

/// Reserves `len` bytes of real storage for `file` (not a sparse file): a full
/// filesystem must fail at `build()`, never as a SIGBUS on a store into the mapping.
#[cfg(target_os = "linux")]
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a valid fd and length.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    match rc {
        0 => Ok(()),
        rc => Err(io::Error::from_raw_os_error(rc)),
    }
}

/// macOS has no `posix_fallocate`: `F_PREALLOCATE` reserves the blocks (contiguous if it
/// can, else anywhere), then `ftruncate` sets the length over them.
#[cfg(target_os = "macos")]
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    let mut store = libc::fstore_t {
        fst_flags: libc::F_ALLOCATECONTIG | libc::F_ALLOCATEALL,
        fst_posmode: libc::F_PEOFPOSMODE,
        fst_offset: 0,
        fst_length: len as libc::off_t,
        fst_bytesalloc: 0,
    };
    // SAFETY: a valid fd and a valid, initialised fstore_t.
    if unsafe { libc::fcntl(fd, libc::F_PREALLOCATE, &mut store) } == -1 {
        store.fst_flags = libc::F_ALLOCATEALL;
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_PREALLOCATE, &mut store) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    file.set_len(len)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn preallocate(_file: &File, _len: u64) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the crash-surviving ring is available on Linux and macOS only",
    ))
}

fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl Persist {
    /// Creates, preallocates, prefaults, locks and maps `dir/dial9-PROGRAM-PID-RANDOM.ring`.
    pub(crate) fn create(
        dir: &Path,
        capacity: usize,
        program: &str,
        start_unix: u64,
        start_raw: u64,
        ns_per_raw: f64,
    ) -> io::Result<(Persist, Ring)> {
        register_atfork();
        let pid = std::process::id();
        let safe = super::identity::file_name_safe(program);
        let layout = RingLayout::for_capacity(capacity);
        let len = layout.file_len;

        // A fresh name with a random part, created with O_CREAT | O_EXCL (which never
        // follows a symlink) and retried on a clash: PID reuse (PID 1 in every container)
        // or a name someone else created ahead of us can never stop the recorder from
        // starting. 0600 like the dumps: task names, paths and activity are nobody else's.
        let prefix = format!("dial9-{safe}-{pid}-");
        let mut name = tempfile::Builder::new();
        name.prefix(&prefix).suffix(RING_SUFFIX).rand_bytes(10);
        #[cfg(unix)]
        name.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
        let (file, path) = name
            .tempfile_in(dir)
            .and_then(|f| f.keep().map_err(|e| e.error))
            .map_err(|e| ctx(e, "cannot create a ring file in", dir))?;
        let cleanup = |e: io::Error| {
            let _ = std::fs::remove_file(&path);
            e
        };
        // Allocate every block now: a full filesystem fails here, not as SIGBUS later.
        preallocate(&file, len as u64).map_err(|e| cleanup(ctx(e, "cannot allocate", &path)))?;
        file.try_lock()
            .map_err(|e| cleanup(ctx(io::Error::other(e.to_string()), "cannot lock", &path)))?;
        // SAFETY: the file is ours (created above, locked) and nobody truncates it.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }
            .map_err(|e| cleanup(ctx(e, "cannot map", &path)))?;
        // Prefault: touch every page so recording never takes a fault for a fresh page.
        for page in (0..len).step_by(4096) {
            map[page] = 0;
        }
        pack_header(
            &mut map,
            &layout,
            &RingIdentity {
                pid,
                start_unix_ns: start_unix,
                start_raw,
                ns_per_raw,
                program: &safe,
                host: &super::identity::host_name(),
            },
        );
        let base = map.as_mut_ptr();
        // SAFETY: the header is zeroed, BLOCKS_AT is page-aligned, H_CLAIMS 8-aligned, and
        // both regions lie inside the mapping.
        let ring = unsafe { Ring::mapped(map, BLOCKS_AT, layout.blocks, H_CLAIMS) };
        crate::record::diag::say!("crash-surviving ring at {}", path.display());
        at_exit::register(&path, base as usize + H_FLAGS, pid, fork_generation());
        Ok((
            Persist {
                path,
                _file: file,
                base,
                lanes_at: layout.lanes_at,
                tasks_at: layout.tasks_at,
                task_slots: layout.task_slots,
                strings_at: layout.strings_at,
                strings_len: layout.strings_len,
                pid,
                generation: fork_generation(),
            },
            ring,
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn atomic(&self, at: usize) -> &AtomicU64 {
        // SAFETY: `at` is an 8-aligned offset inside the mapping (callers use the layout).
        unsafe { &*self.base.add(at).cast::<AtomicU64>() }
    }

    fn live(&self) -> bool {
        fork_generation() == self.generation
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn set_flag(&self, flag: u64) {
        if self.live() {
            self.atomic(H_FLAGS).fetch_or(flag, Ordering::Relaxed);
        }
    }

    /// Appends a string; returns its offset in the string area, or `NO_STRING` when the
    /// area is full (names seen after that show as unknown in a recovered ring).
    pub(crate) fn string(&self, s: &str) -> u32 {
        if !self.live() {
            return NO_STRING;
        }
        let s = &s.as_bytes()[..s.len().min(4096)];
        let need = (4 + s.len()).div_ceil(8) * 8;
        let at = self
            .atomic(H_STRINGS_USED)
            .fetch_add(need as u64, Ordering::Relaxed) as usize;
        if at + need > self.strings_len {
            return NO_STRING;
        }
        // SAFETY: [at, at + need) of the string area was reserved for this call alone.
        unsafe {
            let p = self.base.add(self.strings_at + at);
            std::ptr::copy_nonoverlapping(s.as_ptr(), p.add(4), s.len());
            (*p.cast::<AtomicU32>()).store(s.len() as u32 + 1, Ordering::Release);
        }
        at as u32
    }

    /// Writes a tagged record of `N` words at `at` (a seqlock: tag cleared, words, tag).
    fn record<const N: usize>(&self, at: usize, index: u64, words: [u64; N]) {
        let tag = self.atomic(at);
        tag.store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        for (i, w) in words.iter().enumerate() {
            self.atomic(at + 8 * (i + 1)).store(*w, Ordering::Relaxed);
        }
        tag.store(record_tag(index, &words), Ordering::Release);
    }

    pub(crate) fn lane(&self, info: &ThreadInfo, name: u32) {
        let i = info.lane as usize;
        if !self.live() || i >= MAX_PERSISTED_LANES {
            return;
        }
        self.record(
            self.lanes_at + i * LANE_WORDS * 8,
            i as u64,
            pack_lane(info, name),
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn task(
        &self,
        task: u64,
        parent: Option<u64>,
        name: u32,
        file: u32,
        line: u32,
        col: u32,
        kind: crate::format::TaskKind,
    ) {
        if !self.live() {
            return;
        }
        let seq = self.atomic(H_TASK_SEQ).fetch_add(1, Ordering::Relaxed);
        let i = (seq % self.task_slots as u64) as usize;
        self.record(
            self.tasks_at + i * TASK_WORDS * 8,
            i as u64,
            pack_task(
                task,
                parent,
                TaskStrings { name, file },
                line,
                col,
                seq,
                kind,
            ),
        );
    }

    /// Removes the file: the recorder is shutting down cleanly. A forked child, which
    /// shares the parent's file, leaves it alone.
    pub(crate) fn remove(&self) {
        at_exit::unregister(&self.path);
        if self.live() && std::process::id() == self.pid {
            self.set_flag(FLAG_CLEAN_EXIT);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A recorder installed as the global subscriber is never dropped, so `Inner::drop` never
/// removes its ring: a clean exit (return from `main`, `std::process::exit`) would leave a
/// multi-MB file in RAM that reads as a crash. An `atexit` handler marks every live ring
/// of this process as cleanly exited and removes it. A process that is killed, aborts or
/// crashes runs no `atexit` handler, so its ring stays as the evidence it is meant to be.
// Elsewhere the ring file cannot be created (`preallocate` says so), so nothing registers.
#[cfg_attr(not(unix), allow(dead_code))]
mod at_exit {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Entry {
        path: PathBuf,
        /// Address of the ring's `H_FLAGS` word, valid while the entry is registered
        /// (`Persist::remove` unregisters before the mapping goes away).
        flags: usize,
        pid: u32,
        generation: u64,
    }

    static LIVE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

    extern "C" fn on_exit() {
        // Never wait at exit: a thread that holds the lock (building a recorder at this
        // very moment) wins, and its ring stays (it reads as "exited cleanly" only if
        // the flag was set; otherwise as recovered, which is still the truth about it).
        let Ok(mut live) = LIVE.try_lock() else {
            return;
        };
        for e in live.drain(..) {
            if e.pid != std::process::id() || e.generation != super::fork_generation() {
                continue;
            }
            // SAFETY: registered entries point at a mapped, 8-aligned header word.
            let flags = unsafe { &*(e.flags as *const AtomicU64) };
            flags.fetch_or(super::FLAG_CLEAN_EXIT, Ordering::Release);
            let _ = std::fs::remove_file(&e.path);
        }
    }

    pub(crate) fn register(path: &Path, flags: usize, pid: u32, generation: u64) {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn()`; failure only means no cleanup.
            #[cfg(unix)]
            unsafe {
                libc::atexit(on_exit)
            };
        });
        if let Ok(mut live) = LIVE.lock() {
            live.push(Entry {
                path: path.to_path_buf(),
                flags,
                pid,
                generation,
            });
        }
    }

    pub(crate) fn unregister(path: &Path) {
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|e| e.path != path);
        }
    }
}

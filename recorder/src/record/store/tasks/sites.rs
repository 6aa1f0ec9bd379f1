//! Spawn sites: a task's name, kind and spawn location, interned once so that a spawn
//! stores one number.
//!
//! A service spawns from a few dozen places, with a few names, millions of times. The
//! first spawn of a site takes the site table's lock; after that a small per-thread cache
//! answers, verified by comparing the strings (a pointer match alone could be a freed
//! and reused string), so the spawn path takes no lock and hashes nothing.
//!
//! Sites are never freed, so a site id stays valid in every thread's cache and in every
//! task slot. The table is therefore bounded ([`MAX_SITES`]): a service that names each
//! task uniquely (`conn-{peer}`) fills it, and its later sites go to the overflow table,
//! which frees names no task uses any more.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustc_hash::FxHashMap;

use crate::format::TaskKind;
use crate::format::ring_file::NO_STRING;

use super::super::lanes;
use super::super::ring_file::Persist;
use super::{FileName, SpawnInfo};

/// Sites a table interns; beyond this, spawns of new sites take the overflow table.
pub(crate) const MAX_SITES: usize = 1024;

/// Per-thread cache entries (direct-mapped by a cheap hash of the site).
const CACHE_ENTRIES: usize = 64;

/// Longest name and file a site holds (capture cuts longer ones to these); a spawn with
/// longer ones goes to the overflow table.
pub(crate) const NAME_MAX: usize = 128;
pub(crate) const FILE_MAX: usize = 256;

/// A site, strings inline, in whole cache lines of its own: every worker reads it on every
/// spawn, and a small heap string could share its line with something another core keeps
/// writing (a task's allocation), which made the compare the costliest part of a spawn.
#[repr(align(64))]
pub(crate) struct Site {
    kind: TaskKind,
    name_len: u16,
    /// `None`: no location.
    file_len: Option<u16>,
    line: u32,
    col: u32,
    /// Offsets of the name and the file in the crash-surviving ring file's string area.
    persisted: (u32, u32),
    /// Address and length of the `'static` file name (a spawn location from the hooks)
    /// this site was made from: the same address is the same text, no compare needed.
    static_file: (usize, usize),
    text: [u8; NAME_MAX + FILE_MAX],
}

impl Site {
    /// Whether a site can hold `info`'s strings.
    fn fits(info: &SpawnInfo<'_>) -> bool {
        info.name.len() <= NAME_MAX
            && info
                .location
                .is_none_or(|(f, _, _)| f.as_str().len() <= FILE_MAX)
    }

    /// A site for `info`, whose strings [`fits`](Self::fits) says it can hold.
    fn new(info: &SpawnInfo<'_>, persisted: (u32, u32)) -> Site {
        let file = info.location.map(|(f, _, _)| f.as_str());
        let mut text = [0; NAME_MAX + FILE_MAX];
        text[..info.name.len()].copy_from_slice(info.name.as_bytes());
        if let Some(f) = file {
            text[NAME_MAX..NAME_MAX + f.len()].copy_from_slice(f.as_bytes());
        }
        let (line, col) = info.location.map_or((0, 0), |(_, l, c)| (l, c));
        let static_file = match info.location {
            Some((FileName::Static(f), _, _)) => (f.as_ptr() as usize, f.len()),
            _ => (0, 0),
        };
        Site {
            static_file,
            kind: info.kind,
            name_len: info.name.len() as u16,
            file_len: file.map(|f| f.len() as u16),
            line,
            col,
            persisted,
            text,
        }
    }

    fn name_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.name_len)]
    }

    fn file_bytes(&self) -> Option<&[u8]> {
        self.file_len
            .map(|n| &self.text[NAME_MAX..NAME_MAX + usize::from(n)])
    }

    pub(crate) fn kind(&self) -> TaskKind {
        self.kind
    }

    pub(crate) fn name(&self) -> &str {
        std::str::from_utf8(self.name_bytes()).unwrap_or("")
    }

    pub(crate) fn location(&self) -> Option<(&str, u32, u32)> {
        let file = std::str::from_utf8(self.file_bytes()?).unwrap_or("");
        Some((file, self.line, self.col))
    }

    fn matches(&self, info: &SpawnInfo<'_>) -> bool {
        self.kind == info.kind
            && bytes_eq(self.name_bytes(), info.name.as_bytes())
            && match (self.file_bytes(), &info.location) {
                (None, None) => true,
                (Some(f), Some((g, l, c))) => {
                    self.line == *l
                        && self.col == *c
                        && match g {
                            FileName::Static(s)
                                if (s.as_ptr() as usize, s.len()) == self.static_file =>
                            {
                                true
                            }
                            _ => bytes_eq(f, g.as_str().as_bytes()),
                        }
                }
                _ => false,
            }
    }
}

/// Byte equality without a call: short strings compared eight bytes at a time inline
/// (the library call, with its wide-vector code, cost more than the rest of a spawn).
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
    for (x, y) in a8.by_ref().zip(b8.by_ref()) {
        if word(x) != word(y) {
            return false;
        }
    }
    a8.remainder()
        .iter()
        .zip(b8.remainder())
        .all(|(x, y)| x == y)
}

/// Which cache entry a site lands in, from what is cheap to read: lengths and numbers.
fn cache_index(info: &SpawnInfo<'_>) -> usize {
    let (file_len, line, col) = info
        .location
        .map_or((0, 0, 0), |(f, l, c)| (f.as_str().len(), l, c));
    let h = (line as u64)
        ^ (u64::from(col) << 20)
        ^ ((file_len as u64) << 32)
        ^ ((info.name.len() as u64) << 44)
        ^ ((info.kind as u64) << 56);
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CACHE_ENTRIES.trailing_zeros())) as usize
}

/// The full hash of a site's content, for the table's map.
fn content_hash(info: &SpawnInfo<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    info.name.hash(&mut h);
    (info.kind as u8).hash(&mut h);
    if let Some((f, l, c)) = info.location {
        f.as_str().hash(&mut h);
        (l, c).hash(&mut h);
    }
    h.finish()
}

struct CacheEntry {
    table: u64,
    id: u32,
    site: Arc<Site>,
}

thread_local! {
    static CACHE: RefCell<[Option<CacheEntry>; CACHE_ENTRIES]> =
        const { RefCell::new([const { None }; CACHE_ENTRIES]) };
}

#[derive(Default, Clone)]
struct SiteList {
    sites: Vec<Arc<Site>>,
    /// Content hash -> ids of the sites with that hash.
    by_hash: FxHashMap<u64, Vec<u32>>,
}

impl SiteList {
    fn find(&self, hash: u64, info: &SpawnInfo<'_>) -> Option<(u32, Arc<Site>)> {
        let id = *self
            .by_hash
            .get(&hash)?
            .iter()
            .find(|&&id| self.sites[id as usize].matches(info))?;
        Some((id, self.sites[id as usize].clone()))
    }
}

pub(crate) struct Sites {
    /// Tells this table's entries apart in the per-thread caches (tests and services may
    /// build several recorders).
    table: u64,
    list: Mutex<SiteList>,
    /// The list once full: it never changes again, so spawns that miss their thread's
    /// cache (a service naming each task uniquely misses on every spawn) read it without
    /// the lock.
    frozen: OnceLock<SiteList>,
}

impl Sites {
    pub(crate) fn new() -> Sites {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Sites {
            table: NEXT.fetch_add(1, Ordering::Relaxed),
            list: Mutex::default(),
            frozen: OnceLock::new(),
        }
    }

    /// The id of `info`'s site and its strings' offsets in the ring file, interning it
    /// if new; `None` when the table is full.
    pub(crate) fn intern(
        &self,
        info: &SpawnInfo<'_>,
        persist: Option<&Persist>,
    ) -> Option<(u32, (u32, u32))> {
        let at = cache_index(info);
        let hit = CACHE
            .try_with(|c| {
                let c = c.try_borrow().ok()?;
                let e = c[at].as_ref()?;
                (e.table == self.table && e.site.matches(info)).then(|| (e.id, e.site.persisted))
            })
            .ok()
            .flatten();
        if hit.is_some() {
            return hit;
        }
        let (id, site) = self.intern_locked(info, persist)?;
        let persisted = site.persisted;
        let _ = CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c[at] = Some(CacheEntry {
                    table: self.table,
                    id,
                    site,
                });
            }
        });
        Some((id, persisted))
    }

    #[cold]
    fn intern_locked(
        &self,
        info: &SpawnInfo<'_>,
        persist: Option<&Persist>,
    ) -> Option<(u32, Arc<Site>)> {
        let hash = content_hash(info);
        if let Some(full) = self.frozen.get() {
            return full.find(hash, info);
        }
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = list.find(hash, info) {
            return Some(found);
        }
        if list.sites.len() >= MAX_SITES {
            let _ = self.frozen.set(list.clone());
            return None;
        }
        // Checked before the strings go to the ring file.
        if !Site::fits(info) {
            return None;
        }
        let string = |s: &str| persist.map_or(NO_STRING, |p| p.string(s));
        let persisted = (
            string(info.name),
            info.location
                .map_or(NO_STRING, |(f, _, _)| string(f.as_str())),
        );
        let site = Arc::new(Site::new(info, persisted));
        let id = list.sites.len() as u32;
        list.sites.push(site.clone());
        list.by_hash.entry(hash).or_default().push(id);
        Some((id, site))
    }

    /// Holds the table's lock, as a thread caught mid-intern by a panic would.
    #[cfg(test)]
    pub(crate) fn hold(&self) -> std::sync::MutexGuard<'_, impl Sized> {
        self.list.lock().unwrap()
    }

    /// Every site, by id. With `patient == false` (panic hook) gives up rather than wait
    /// on a lock the panicking thread might hold.
    pub(crate) fn all(&self, patient: bool) -> Vec<Arc<Site>> {
        if let Some(full) = self.frozen.get() {
            return full.sites.clone();
        }
        lanes::lock(&self.list, patient, lanes::SHARD_LOCK_TRIES)
            .map(|l| l.sites.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info<'a>(name: &'a str, file: &'a str, line: u32) -> SpawnInfo<'a> {
        SpawnInfo {
            task: 1,
            name,
            kind: TaskKind::Task,
            location: Some((FileName::Copied(file), line, 3)),
            parent: None,
            hooked: false,
        }
    }

    #[test]
    fn a_site_is_interned_once_and_told_apart_by_every_field() {
        let s = Sites::new();
        let a = s.intern(&info("worker", "src/a.rs", 1), None).unwrap().0;
        assert_eq!(s.intern(&info("worker", "src/a.rs", 1), None).unwrap().0, a);
        // Same lengths and numbers (the same cache entry), other content: another site.
        let b = s.intern(&info("wurker", "src/a.rs", 1), None).unwrap().0;
        let c = s.intern(&info("worker", "src/b.rs", 1), None).unwrap().0;
        let d = s.intern(&info("worker", "src/a.rs", 2), None).unwrap().0;
        let mut ids = vec![a, b, c, d];
        ids.dedup();
        assert_eq!(ids.len(), 4);
        // Back and forth through the one cache entry they share: still right.
        assert_eq!(s.intern(&info("worker", "src/a.rs", 1), None).unwrap().0, a);
        assert_eq!(s.intern(&info("wurker", "src/a.rs", 1), None).unwrap().0, b);
        let all = s.all(true);
        assert_eq!(all.len(), 4);
        assert_eq!(all[b as usize].name(), "wurker");
        assert_eq!(all[c as usize].location(), Some(("src/b.rs", 1, 3)));
    }

    #[test]
    fn bytes_eq_is_equality() {
        let s = "src/some/longer/path/to/a/file.rs";
        for i in 0..s.len() {
            for j in 0..s.len() {
                let (a, b) = (&s.as_bytes()[..i], &s.as_bytes()[..j]);
                assert_eq!(bytes_eq(a, b), a == b);
            }
        }
        assert!(!bytes_eq(b"src/main.rs-x", b"src/main.rs-y"));
        assert!(!bytes_eq(b"xrc/main.rs", b"src/main.rs"));
    }

    #[test]
    fn a_static_file_matches_by_address_and_a_copy_by_content() {
        static FILE: &str = "src/static.rs";
        let s = Sites::new();
        let from_hook = |file: FileName<'static>| SpawnInfo {
            task: 1,
            name: "",
            kind: TaskKind::Unknown,
            location: Some((file, 4, 2)),
            parent: None,
            hooked: true,
        };
        let a = s
            .intern(&from_hook(FileName::Static(FILE)), None)
            .unwrap()
            .0;
        assert_eq!(
            s.intern(&from_hook(FileName::Static(FILE)), None)
                .unwrap()
                .0,
            a
        );
        let copy = String::from(FILE);
        let copied = SpawnInfo {
            location: Some((FileName::Copied(&copy), 4, 2)),
            ..from_hook(FileName::Static(FILE))
        };
        assert_eq!(s.intern(&copied, None).unwrap().0, a);
        let other = from_hook(FileName::Static("src/static.rz"));
        assert_ne!(s.intern(&other, None).unwrap().0, a);
    }

    #[test]
    fn two_tables_do_not_share_cached_ids() {
        let (s, t) = (Sites::new(), Sites::new());
        s.intern(&info("x", "f", 1), None).unwrap();
        let in_s = s.intern(&info("y", "f", 1), None).unwrap().0;
        let in_t = t.intern(&info("y", "f", 1), None).unwrap().0;
        assert_eq!((in_s, in_t), (1, 0));
    }

    #[test]
    fn strings_too_long_to_hold_are_refused() {
        let s = Sites::new();
        let long = "x".repeat(NAME_MAX + 1);
        assert!(s.intern(&info(&long, "f", 1), None).is_none());
        assert!(s.intern(&info("n", &long.repeat(3), 1), None).is_none());
        assert!(s.all(true).is_empty());
    }

    #[test]
    fn a_full_table_says_so() {
        let s = Sites::new();
        for i in 0..MAX_SITES {
            assert!(s.intern(&info(&format!("t{i}"), "f", 1), None).is_some());
        }
        assert!(s.intern(&info("one more", "f", 1), None).is_none());
        assert!(
            s.intern(&info("t7", "f", 1), None).is_some(),
            "old sites still resolve"
        );
        // Full, the list no longer changes and is read without the lock: here held, as a
        // thread stuck mid-intern by a panic would, and the panic path still gets it all.
        let held = s.hold();
        assert_eq!(s.all(false).len(), MAX_SITES);
        drop(held);
        assert_eq!(
            std::thread::scope(|t| t.spawn(|| s.intern(&info("t9", "f", 1), None)).join())
                .unwrap()
                .map(|x| x.0),
            Some(9),
            "and from a thread whose cache never saw it"
        );
    }
}

//! A hint to the CPU to fetch a cache line for writing, ahead of the write.
//!
//! The task and span tables are written by the spawning worker and by whichever worker
//! polls the task, so a spawn often finds its lines in the other core's cache. Asking for
//! them first lets that transfer overlap with reading the span's fields.

/// Prefetches the line holding `*p` for writing; a no-op where there is no such hint.
#[inline(always)]
pub(crate) fn for_write<T>(p: &T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: a prefetch is a hint: it never faults and changes no memory, whatever the
    // address (here a valid reference anyway).
    unsafe {
        use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_ET0>((p as *const T).cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

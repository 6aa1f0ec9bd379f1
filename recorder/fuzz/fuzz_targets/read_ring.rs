//! A valid crash-surviving ring file, damaged by the input: each 5 bytes of input are an
//! offset (u32) and a byte XORed in there (the header, the blocks, the lane and task
//! records, the strings). The reader gives a dump or a clear error, never a panic, and a
//! dump's events are in time order.
#![no_main]

use dial9_format::ring_file::{RingIdentity, RingLayout, pack_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small layout (the recorder's has 4 MiB of strings): quick to build every time.
    let mut layout = RingLayout::for_capacity(256);
    layout.strings_len = 4096;
    layout.file_len = layout.strings_at + layout.strings_len;
    let mut file = vec![0u8; layout.file_len];
    pack_header(
        &mut file,
        &layout,
        &RingIdentity {
            pid: 7,
            start_unix_ns: 1,
            start_raw: 0,
            ns_per_raw: 1.0,
            program: "fuzz",
            host: "host",
        },
    );
    for patch in data.chunks_exact(5) {
        let at = u32::from_le_bytes([patch[0], patch[1], patch[2], patch[3]]) as usize;
        let len = file.len();
        file[at % len] ^= patch[4];
    }
    if let Ok(dump) = dial9_format::Dump::from_bytes(&file) {
        assert!(dump.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    }
});

//! Any bytes behind the ring file magic: the crash-surviving ring reader (header fields,
//! area offsets, blocks, name records) gives a dump or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = dial9_format::RING_MAGIC.to_vec();
    file.extend_from_slice(data);
    if let Ok(dump) = dial9_format::Dump::from_bytes(&file) {
        assert!(dump.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    }
});

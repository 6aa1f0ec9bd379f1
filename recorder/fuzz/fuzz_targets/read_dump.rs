//! Any bytes given to the dump reader: a dump or a clear error, never a panic, a hang or an
//! allocation out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(dump) = dial9_format::Dump::from_bytes(data) {
        // What reads must write back and read again the same.
        let again = dial9_format::Dump::from_bytes(&dump.to_bytes().unwrap()).unwrap();
        assert_eq!(again, dump);
    }
});

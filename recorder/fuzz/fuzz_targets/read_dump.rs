//! Any bytes given to the dump reader: a dump or a clear error, never a panic, a hang or an
//! allocation out of proportion to the input. Read into columns, the same dump.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = dial9_format::Dump::from_bytes(data);
    let columns = dial9_format::Dump::from_bytes_columns(data);
    assert_eq!(plain.is_ok(), columns.is_ok());
    if let (Ok(mut dump), Ok((mut tables, events))) = (plain, columns) {
        tables.events = events.to_events();
        assert_eq!(tables, dump);
        // What reads must write back and read again the same (whole: what was lost is
        // not written).
        let again = dial9_format::Dump::from_bytes(&dump.to_bytes().unwrap()).unwrap();
        dump.damage = None;
        assert_eq!(again, dump);
    }
});

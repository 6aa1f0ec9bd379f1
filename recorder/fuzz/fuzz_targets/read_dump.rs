//! Any bytes given to the dump reader: a dump or a clear error, never a panic, a hang or an
//! allocation out of proportion to the input. Streamed as the explorer reads it, the same
//! dump; and every block it lists reads again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = dial9_format::Dump::from_bytes(data);
    let opened = dial9_format::Dump::open_bytes(data.to_vec());
    assert_eq!(plain.is_ok(), opened.is_ok());
    if let (Ok(mut dump), Ok((mut tables, section))) = (plain, opened) {
        let mut events = Vec::new();
        let (blocks, damage) = section
            .scan(|cols, _| {
                events.extend(cols.iter());
                std::ops::ControlFlow::<()>::Continue(())
            })
            .unwrap();
        let mut cols = dial9_format::EventColumns::default();
        for b in 0..blocks.entries().len() {
            blocks.decode(b, &mut cols).unwrap();
        }
        tables.events = events;
        tables.damage = tables.damage.take().or(damage);
        assert_eq!(tables, dump);
        // What reads must write back and read again the same (whole: what was lost is
        // not written).
        let again = dial9_format::Dump::from_bytes(&dump.to_bytes().unwrap()).unwrap();
        dump.damage = None;
        assert_eq!(again, dump);
    }
});

//! Any bytes as a dial9 trace segment (plain or gzipped): a dump or a one-line error,
//! never a panic, a hang or an allocation out of proportion to the input; and a dump that
//! reads goes through the index and the report.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match dial9_tui::import::from_segments(&[("fuzz".into(), data.to_vec())]) {
        Ok((dump, _)) => {
            let ix = dial9_tui::analysis::Index::build(dump, Default::default());
            let _ = dial9_tui::cli::report::text(&ix, "fuzz", 100);
        }
        Err(e) => assert!(!e.contains('\n'), "{e}"),
    }
});

//! The README says what the code does: its key table is the explorer's key table.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

/// The text between `<!-- NAME -->` and `<!-- /NAME -->`.
fn section(text: &str, name: &str) -> String {
    let open = format!("<!-- {name} -->\n");
    let close = format!("<!-- /{name} -->");
    let a = text
        .find(&open)
        .unwrap_or_else(|| panic!("README has no {open}"))
        + open.len();
    let b = text[a..].find(&close).unwrap() + a;
    text[a..b].to_string()
}

#[test]
fn readme_key_table_is_the_explorers_key_table() {
    let expected = dial9_tui::app::keys::markdown();
    let found = section(&readme(), "keys");
    assert!(
        found == expected,
        "the README's key table differs from the key table (app/keys.rs); \
         replace it with:\n{expected}"
    );
}

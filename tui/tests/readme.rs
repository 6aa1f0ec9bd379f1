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

#[test]
fn readme_report_example_is_real_output_of_a_shipped_sample() {
    let readme = readme();
    let block = section(&readme, "report-example");
    let expected = block
        .strip_prefix("```text\n")
        .and_then(|b| b.strip_suffix("```\n"))
        .expect("a text block");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dial9-tui"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["report", "sample-dumps/mini-redis.bin", "--limit", "6"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let actual = String::from_utf8(out.stdout).unwrap();
    assert!(
        actual == expected,
        "the README's example report differs from the real output; replace it with:\n{actual}"
    );
}

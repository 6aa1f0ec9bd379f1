//! Every code block of `README.md` and `docs/*.md` works when copied, and the docs say
//! what the code does:
//! - a Rust block is exactly a marked region of `recorder/examples/` (which `cargo test`
//!   compiles; `recorder/tests/readme.rs` also runs the README's setup as a service);
//! - a `dial9-tui` command is run on the shipped samples (opening the explorer is run as
//!   `check` on the same files: the explorer itself is driven in `tmux.rs`);
//! - a text block follows `<!-- output: dial9-tui ARGS -->` and is what that prints;
//! - a `cargo` command names packages, binaries, benches and examples that exist;
//! - the README's TOML blocks ask for what the workspace builds with;
//! - the key table in `docs/explorer.md` is the explorer's key table;
//! - every relative link points at a file that exists, and at a heading in it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The README and every page of `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A fenced code block.
#[derive(Debug)]
struct Block {
    page: PathBuf,
    line: usize,
    lang: String,
    body: String,
    /// The HTML comment on the line before the fence, if any.
    marker: Option<String>,
}

impl Block {
    fn at(&self) -> String {
        format!(
            "{}:{}",
            self.page
                .strip_prefix(root())
                .unwrap_or(&self.page)
                .display(),
            self.line
        )
    }
}

fn blocks_of(page: &Path) -> Vec<Block> {
    let text = read(page);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(lang) = lines[i].strip_prefix("```") {
            let start = i;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && lines[i] != "```" {
                body.push(lines[i]);
                i += 1;
            }
            assert!(
                i < lines.len(),
                "{}:{}: unclosed block",
                page.display(),
                start + 1
            );
            let marker = start
                .checked_sub(1)
                .map(|j| lines[j].trim())
                .filter(|l| l.starts_with("<!--") && l.ends_with("-->"))
                .map(|l| {
                    l.trim_start_matches("<!--")
                        .trim_end_matches("-->")
                        .trim()
                        .to_string()
                });
            out.push(Block {
                page: page.to_path_buf(),
                line: start + 1,
                lang: lang.trim().to_string(),
                body: body.join("\n"),
                marker,
            });
        }
        i += 1;
    }
    out
}

fn blocks() -> Vec<Block> {
    pages().iter().flat_map(|p| blocks_of(p)).collect()
}

#[test]
fn every_block_is_of_a_kind_these_tests_check() {
    for b in blocks() {
        match b.lang.as_str() {
            "rust" | "sh" => {}
            "toml" => assert!(
                b.page.ends_with("README.md"),
                "{}: TOML blocks are checked in the README only",
                b.at()
            ),
            "text" => assert!(
                b.marker
                    .as_deref()
                    .is_some_and(|m| m.starts_with("output: ")),
                "{}: a text block must be a command's output, marked <!-- output: dial9-tui ARGS -->",
                b.at()
            ),
            other => panic!("{}: a ```{other} block: no test checks it", b.at()),
        }
    }
}

/// The regions of the examples: the lines between `// README: NAME begins` (or
/// `// DOC: NAME begins`) and its `ends`, dedented.
fn regions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["recorder/examples", "tui/examples"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let src = read(&path);
            let lines: Vec<&str> = src.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                let Some(name) = ["// README: ", "// DOC: "]
                    .iter()
                    .find_map(|p| l.trim().strip_prefix(p))
                    .and_then(|n| n.strip_suffix(" begins"))
                else {
                    continue;
                };
                let body: Vec<&str> = lines[i + 1..]
                    .iter()
                    .take_while(|l| !l.trim().ends_with(&format!("{name} ends")))
                    .copied()
                    .collect();
                let indent = body
                    .iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.len() - l.trim_start().len())
                    .min()
                    .unwrap_or(0);
                let text: Vec<&str> = body
                    .iter()
                    .map(|l| l.get(indent..).unwrap_or("").trim_end())
                    .collect();
                out.push((format!("{}: {name}", path.display()), text.join("\n")));
            }
        }
    }
    out
}

#[test]
fn rust_blocks_are_regions_of_the_examples_the_build_compiles() {
    let regions = regions();
    assert!(regions.len() >= 7, "{regions:?}");
    for b in blocks().iter().filter(|b| b.lang == "rust") {
        assert!(
            regions.iter().any(|(_, r)| *r == b.body),
            "{}: this Rust block is not a region of recorder/examples/ (mark one with \
             `// DOC: NAME begins` / `ends` and copy it here):\n{}",
            b.at(),
            b.body
        );
    }
}

fn dial9_tui(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dial9-tui"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn output_blocks_are_what_their_commands_print() {
    for b in blocks().iter().filter(|b| b.lang == "text") {
        let cmd = b
            .marker
            .as_deref()
            .unwrap()
            .strip_prefix("output: ")
            .unwrap();
        let args: Vec<&str> = cmd
            .strip_prefix("dial9-tui ")
            .unwrap_or_else(|| panic!("{}: only dial9-tui's output is checked", b.at()))
            .split_whitespace()
            .collect();
        let out = dial9_tui(&args, &root());
        let printed = String::from_utf8(out.stdout).unwrap();
        assert!(
            printed.trim_end() == b.body.trim_end(),
            "{}: `{cmd}` prints something else now; replace the block with:\n{printed}",
            b.at()
        );
    }
}

/// Package name → its directory, for every package under the repository.
fn packages() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in [
        "recorder",
        "recorder/format",
        "recorder/overhead",
        "recorder/validate",
        "recorder/fuzz",
        "tui",
        "tui/fuzz",
    ] {
        let toml = root().join(dir).join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&toml) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{}: no name", toml.display()));
        out.push((name.to_string(), root().join(dir)));
    }
    out
}

/// Names of the `[[kind]]` targets of a package (`bin`, `bench`, `example`), with those
/// cargo finds by convention (`benches/NAME.rs`, `examples/NAME.rs`, the package's own bin).
fn targets(dir: &Path, package: &str, kind: &str) -> BTreeSet<String> {
    let text = read(&dir.join("Cargo.toml"));
    let mut names = BTreeSet::new();
    let mut in_section = false;
    for l in text.lines() {
        if l.starts_with('[') {
            in_section = l == format!("[[{kind}]]");
        } else if in_section
            && let Some(n) = l
                .strip_prefix("name = \"")
                .and_then(|n| n.strip_suffix('"'))
        {
            names.insert(n.to_string());
        }
    }
    let conventional = match kind {
        "bench" => Some("benches"),
        "example" => Some("examples"),
        _ => None,
    };
    if let Some(sub) = conventional
        && let Ok(entries) = std::fs::read_dir(dir.join(sub))
    {
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                names.insert(p.file_stem().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    if kind == "bin" && dir.join("src/main.rs").exists() {
        names.insert(package.to_string());
    }
    names
}

/// Checks one `cargo` command line against the repository.
fn check_cargo(words: &[&str], cwd: &Path, at: &str) {
    let packages = packages();
    let mut args: Vec<&str> = words[1..].to_vec();
    if args.first().is_some_and(|a| a.starts_with('+')) {
        args.remove(0);
    }
    let sub = args.first().copied().unwrap_or("");
    let value = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .copied()
    };
    match sub {
        "install" => {
            if let Some(path) = value("--path") {
                assert!(
                    cwd.join(path).join("Cargo.toml").exists(),
                    "{at}: no crate at {path}"
                );
            }
            // Otherwise a tool from the registry (cargo-fuzz, termsnap): not run here.
        }
        "fuzz" => {
            let target = value("run").unwrap_or_else(|| panic!("{at}: fuzz what?"));
            let bins = targets(cwd, "", "bin");
            assert!(
                bins.contains(target),
                "{at}: no fuzz target {target} in {}",
                cwd.display()
            );
        }
        "run" | "build" | "bench" | "test" | "doc" | "check" => {
            let package = value("-p");
            let dir = match package {
                Some(p) => packages
                    .iter()
                    .find(|(n, _)| n == p)
                    .unwrap_or_else(|| panic!("{at}: no package {p}"))
                    .1
                    .clone(),
                None => root(),
            };
            let package = package.unwrap_or("");
            for (flag, kind) in [
                ("--bin", "bin"),
                ("--bench", "bench"),
                ("--example", "example"),
            ] {
                if let Some(name) = value(flag) {
                    assert!(
                        targets(&dir, package, kind).contains(name),
                        "{at}: {package} has no {kind} {name}"
                    );
                }
            }
        }
        other => panic!("{at}: `cargo {other}`: not a command these tests know how to check"),
    }
}

/// A directory with the repository's samples, fixtures and scripts, where commands can
/// write their outputs.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in ["sample-dumps", "tui", "recorder", "screenshots"] {
        std::os::unix::fs::symlink(
            root().join(entry).canonicalize().unwrap(),
            dir.path().join(entry),
        )
        .unwrap();
    }
    dir
}

#[test]
fn shell_commands_run_or_name_what_exists() {
    let mut ran = 0;
    for b in blocks().iter().filter(|b| b.lang == "sh") {
        let scratch = scratch();
        let mut cwd = scratch.path().to_path_buf();
        for (k, line) in b.body.lines().enumerate() {
            let line = line.split(" #").next().unwrap().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{} (line {})", b.at(), k + 1);
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[0] {
                "dial9-tui" => {
                    let sub = words.get(1).copied().unwrap_or("");
                    let known = ["report", "check", "export", "convert", "list-rings"];
                    let args: Vec<&str> = if known.contains(&sub) {
                        words[1..].to_vec()
                    } else {
                        // The explorer: that its inputs open is what `check` says.
                        std::iter::once("check")
                            .chain(words[1..].iter().copied())
                            .collect()
                    };
                    let out = dial9_tui(&args, &cwd);
                    let code = out.status.code();
                    let ok = if args[0] == "check" {
                        matches!(code, Some(0 | 1))
                    } else {
                        code == Some(0)
                    };
                    assert!(
                        ok,
                        "{at}: `{line}` exited {code:?}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    ran += 1;
                }
                "cargo" => check_cargo(&words, &cwd, &at),
                "cd" => {
                    cwd = cwd.join(words[1]);
                    assert!(cwd.is_dir(), "{at}: no directory {}", words[1]);
                }
                "cp" => {
                    for src in &words[1..words.len() - 1] {
                        assert!(cwd.join(src).exists(), "{at}: no {src}");
                    }
                }
                "mkdir" => {}
                // Tools for a host this test cannot reach, or the toolchain's own.
                "rustup" | "strip" | "scp" => {}
                path if path.starts_with("./") => {
                    let p = cwd.join(path);
                    assert!(p.is_file(), "{at}: no {path}");
                    use std::os::unix::fs::PermissionsExt;
                    assert!(
                        p.metadata().unwrap().permissions().mode() & 0o111 != 0,
                        "{at}: {path} is not executable"
                    );
                }
                other => panic!("{at}: `{other}`: not a command these tests know how to check"),
            }
        }
    }
    assert!(ran >= 5, "only {ran} dial9-tui commands ran");
}

#[test]
fn readme_toml_asks_for_what_the_workspace_builds_with() {
    let readme = read(&root().join("README.md"));
    let tomls: Vec<Block> = blocks_of(&root().join("README.md"))
        .into_iter()
        .filter(|b| b.lang == "toml")
        .collect();
    assert_eq!(tomls.len(), 2, "Cargo.toml and .cargo/config.toml");
    let deps = &tomls[0].body;
    for dep in ["dial9-recorder", "tokio", "tracing-subscriber", "libc"] {
        assert!(
            deps.lines().any(|l| l.starts_with(&format!("{dep} ="))),
            "{dep} missing from the README's Cargo.toml block:\n{deps}"
        );
    }
    let tokio = deps.lines().find(|l| l.starts_with("tokio =")).unwrap();
    assert!(tokio.contains("\"tracing\""), "{tokio}");
    let workspace = read(&root().join("recorder/Cargo.toml"));
    let version = tokio.split('"').nth(1).unwrap();
    assert!(
        workspace.contains(&format!("tokio = {{ version = \"{version}\"")),
        "the README asks for tokio {version}; the recorder builds with another"
    );
    let config = &tomls[1].body;
    let ours = read(&root().join(".cargo/config.toml"));
    for key in ["rustflags", "rustdocflags"] {
        let line = config.lines().find(|l| l.starts_with(key)).unwrap();
        assert!(line.contains("\"--cfg\", \"tokio_unstable\""), "{line}");
        assert!(
            ours.lines()
                .any(|l| l.starts_with(key) && l.contains("\"--cfg\", \"tokio_unstable\"")),
            "the workspace's own {key} lacks what the README asks for"
        );
    }
    // The two commands of "Try it": the main job and the tests, nothing else.
    let try_it = readme.split("## Try it").nth(1).unwrap();
    let block = try_it
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        commands,
        [
            "cargo run --release -p dial9-tui -- sample-dumps/starvation.bin",
            "cargo test"
        ]
    );
}

/// The text between `<!-- NAME -->` and `<!-- /NAME -->`.
fn section(text: &str, name: &str) -> String {
    let open = format!("<!-- {name} -->\n");
    let close = format!("<!-- /{name} -->");
    let a = text.find(&open).unwrap_or_else(|| panic!("no {open}")) + open.len();
    let b = text[a..].find(&close).unwrap() + a;
    text[a..b].to_string()
}

#[test]
fn the_key_table_is_the_explorers_key_table() {
    let expected = dial9_tui::app::keys::markdown();
    let found = section(&read(&root().join("docs/explorer.md")), "keys");
    assert!(
        found == expected,
        "docs/explorer.md's key table differs from the key table (app/keys.rs); \
         replace it with:\n{expected}"
    );
}

/// GitHub's anchor for a heading: lower case, spaces to dashes, other punctuation gone.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn relative_links_point_at_files_and_headings_that_exist() {
    let mut pages = pages();
    for other in [
        "CHANGELOG.md",
        "sample-dumps/README.md",
        "recorder/README.md",
        "recorder/format/README.md",
        "recorder/overhead/README.md",
        "recorder/validate/README.md",
        "tui/README.md",
    ] {
        pages.push(root().join(other));
    }
    for page in pages {
        let text = read(&page);
        for (i, part) in text.split("](").enumerate().skip(1) {
            let target = part.split(')').next().unwrap();
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                path.exists(),
                "{}: link {i} to {target}: no such file",
                page.display()
            );
            if !anchor.is_empty() {
                let headings: Vec<String> = read(&path)
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .map(|h| slug(h.trim_start_matches('#')))
                    .collect();
                assert!(
                    headings.iter().any(|h| h == anchor),
                    "{}: link to {target}: no such heading (has {headings:?})",
                    page.display()
                );
            }
        }
    }
}

//! Keeps the documentation honest: the configuration table (docs/configuration.md), the finding
//! codes (docs/findings.md: the table and one section per code), the exit codes (README.md and the
//! real `--help`) and the README's two commands must match the code and `.ci/run`.

use authplane_dev::config::DOCUMENTED;
use authplane_dev::diagnose::Code;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

fn doc(name: &str) -> String {
    std::fs::read_to_string(format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn every_configuration_variable_is_in_the_configuration_table() {
    let table = doc("configuration.md");
    for name in DOCUMENTED {
        assert!(
            table.contains(&format!("| `{name}`")),
            "docs/configuration.md's variable table lacks a row for {name}"
        );
    }
}

#[test]
fn every_finding_code_is_documented() {
    // The first column of the first table in docs/findings.md (not a cell anywhere), exactly
    // the codes there are, and a section with an example and the fix for each.
    let findings = doc("findings.md");
    let documented: Vec<String> = table_rows(&findings)
        .into_iter()
        .map(|row| row[0].trim_matches('`').to_owned())
        .collect();
    let mut want: Vec<String> = Code::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    let mut have = documented.clone();
    want.sort();
    have.sort();
    assert_eq!(have, want, "docs/findings.md's table vs Code::ALL");
    for code in Code::ALL {
        assert!(
            findings.contains(&format!("### `{}`", code.as_str())),
            "docs/findings.md has no example-and-fix section for {code}"
        );
    }
}

/// The rows of the first table under the heading `## {heading}`, as trimmed cells (the header
/// row and the `|---|` rule left out).
fn table_under(readme: &str, heading: &str) -> Vec<Vec<String>> {
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has no `## {heading}` section"));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    table_rows(section)
}

/// The rows of the first table in `text`, as trimmed cells (header row and rule left out).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn exit_codes_match_help_and_readme() {
    let expected = [
        (0, "success"),
        (1, "checked thing is wrong"),
        (2, "usage or configuration"),
        (3, "environment"),
        (4, "internal"),
        (130, "interrupted"),
    ];
    // The README's table under "## Exit codes": exactly these codes, in order, each meaning what
    // the code does.
    let rows = table_under(&readme(), "Exit codes");
    let codes: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let want: Vec<String> = expected.iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(codes, want, "README exit-code table");
    for ((_, word), row) in expected.iter().zip(&rows) {
        assert!(
            row[1].contains(word),
            "README row {row:?} should mention {word:?}"
        );
    }

    // What `--help` really prints, not the constant it is built from.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authplane-dev"))
        .arg("--help")
        .env_clear()
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{help}");
    let block: Vec<&str> = help
        .lines()
        .skip_while(|l| l.trim() != "Exit codes:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let help_codes: Vec<String> = block
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(help_codes, want, "--help exit codes:\n{help}");
    for ((_, word), line) in expected.iter().zip(&block) {
        assert!(
            line.contains(word),
            "--help line {line:?} should mention {word:?}"
        );
    }
}

#[test]
fn ci_runs_the_readme_commands() {
    let readme = readme();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(readme.contains("cargo run --release -- verify"));
    assert!(readme.contains("\ncargo test "));
    let ci_lines: Vec<&str> = ci.lines().map(str::trim).collect();
    assert!(
        ci_lines.contains(&"cargo test"),
        ".ci/run must run `cargo test`"
    );
    assert!(
        ci_lines.contains(&"cargo run --release -- verify"),
        ".ci/run must run the main job"
    );
}

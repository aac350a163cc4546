//! Keeps the documentation honest: the configuration table (docs/configuration.md), the finding
//! codes (docs/findings.md), the exit codes (README.md and `--help`) and the README's two commands
//! must match the code and `.ci/run`.

use authplane_dev::cli::EXIT_CODES_HELP;
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
    let findings = doc("findings.md");
    for code in Code::ALL {
        assert!(
            findings.contains(&format!("| `{}`", code.as_str())),
            "docs/findings.md's table lacks {code}"
        );
        assert!(
            findings.contains(&format!("### `{}`", code.as_str())),
            "docs/findings.md has no example-and-fix section for {code}"
        );
    }
}

#[test]
fn exit_codes_match_help_and_readme() {
    let readme = readme();
    for (code, word) in [
        (0, "success"),
        (1, "checked thing is wrong"),
        (2, "usage or configuration"),
        (3, "environment"),
        (4, "internal"),
        (130, "interrupted"),
    ] {
        assert!(
            readme.contains(&format!("| {code} |")),
            "README exit-code table lacks {code}"
        );
        let help_line = EXIT_CODES_HELP
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{code} ")))
            .unwrap_or_else(|| panic!("--help lacks exit code {code}"));
        assert!(
            help_line.contains(word),
            "{help_line:?} should mention {word:?}"
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

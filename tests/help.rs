//! The command line a user meets: `--help` that scans, and usage errors that stay JSON under
//! `--json`.
//!
//! Each subcommand's help must list exactly the flags that command reads (the table below says
//! where each one takes effect), the backend flags only where a backend is chosen or checked, the
//! other global flags in one collapsed line, and 2–4 examples that parse.

use assert_cmd::Command;
use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authplane-dev"));
    cmd.env_clear().env("NO_COLOR", "1");
    cmd
}

/// `authplane-dev <args>` → (exit code, stdout, stderr), run in an empty temp directory.
fn run(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().current_dir(dir.path()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn help(path: &str) -> String {
    let mut args: Vec<&str> = path.split_whitespace().collect();
    args.push("-h");
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{path} -h: {stderr}");
    stdout
}

/// Long flags listed under a heading of the help text, per heading.
fn listed(help: &str) -> Vec<(String, String)> {
    let mut heading = String::new();
    let mut flags = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            line.trim_end_matches(':').clone_into(&mut heading);
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or_default();
        let long = if first.starts_with("--") {
            Some(first)
        } else if first.len() == 3 && first.starts_with('-') && first.ends_with(',') {
            line.split_whitespace().nth(1)
        } else {
            None
        };
        if let Some(long) = long {
            let name = long.split(['=', '[', '<']).next().unwrap_or_default();
            if name != "--help" && name != "--version" {
                flags.push((heading.clone(), name.to_owned()));
            }
        }
    }
    flags
}

const GLOBAL: &str = "--env-file, --run-dir, --json, --color, --show-secrets";

/// Per subcommand: its own flags (and where they take effect), the backend flags it reads, and
/// whether the global line is shown.
const PAGES: &[(&str, &[&str], &[&str], bool)] = &[
    // UpArgs: stack::ensure_up (no_pull → AsBackend::choose, wait_timeout → readiness polling).
    (
        "up",
        &["--no-pull", "--wait-timeout"],
        &["--as", "--topology", "--image"],
        true,
    ),
    // VerifyArgs: the flow's steps plus UpArgs for bringing the stack up.
    (
        "verify",
        &[
            "--mcp-url",
            "--protocol",
            "--fix",
            "--no-probes",
            "--tool",
            "--args",
            "--scope",
            "--slug",
            "--dpop",
            "--flow",
            "--browser",
            "--redirect-uri",
            "--omit",
            "--consent",
            "--no-pull",
            "--wait-timeout",
        ],
        &["--as", "--topology", "--image"],
        true,
    ),
    // DoctorArgs: --mcp-url (live: MCP metadata), --offline; --as decides the Docker check.
    (
        "doctor",
        &["--mcp-url", "--offline"],
        &["--as", "--topology"],
        true,
    ),
    ("clean", &["--all"], &[], true),
    ("status", &[], &[], true),
    ("logs", &["--lines", "--follow"], &[], true),
    // TokenArgs; token brings the AS up like verify, so the backend flags apply.
    (
        "token",
        &["--resource", "--scope"],
        &["--as", "--topology", "--image"],
        true,
    ),
    ("inspect", &["--mcp-url"], &[], true),
    ("serve", &[], &[], true),
    ("serve authserver", &["--state-dir"], &[], true),
    (
        "serve echo",
        &["--dev-mode", "--allowed-host", "--bind"],
        &[],
        true,
    ),
    ("completions", &[], &[], false),
];

#[test]
fn each_subcommand_lists_only_the_flags_it_reads() {
    for (path, own, backend, global) in PAGES {
        let text = help(path);
        let flags = listed(&text);
        let got_own: Vec<&str> = flags
            .iter()
            .filter(|(h, _)| h == "Options")
            .map(|(_, f)| f.as_str())
            .collect();
        assert_eq!(&got_own, own, "`{path} -h` own flags:\n{text}");
        let got_backend: Vec<&str> = flags
            .iter()
            .filter(|(h, _)| h == "Backend options")
            .map(|(_, f)| f.as_str())
            .collect();
        assert_eq!(&got_backend, backend, "`{path} -h` backend flags:\n{text}");
        let others: Vec<_> = flags
            .iter()
            .filter(|(h, _)| h != "Options" && h != "Backend options")
            .collect();
        assert!(others.is_empty(), "`{path} -h` lists {others:?}:\n{text}");
        let line = format!("Global options: {GLOBAL} (see authplane-dev --help)");
        assert_eq!(
            text.contains(&line),
            *global,
            "`{path} -h` and the collapsed global line:\n{text}"
        );
    }
}

#[test]
fn the_top_level_help_lists_the_global_flags_once_and_ends_with_where_to_start() {
    let text = help("");
    let flags = listed(&text);
    let global: Vec<&str> = flags
        .iter()
        .filter(|(h, _)| h == "Global options")
        .map(|(_, f)| f.as_str())
        .collect();
    assert_eq!(global.join(", "), GLOBAL, "{text}");
    let backend: Vec<&str> = flags
        .iter()
        .filter(|(h, _)| h == "Backend options")
        .map(|(_, f)| f.as_str())
        .collect();
    assert_eq!(backend, ["--as", "--topology", "--image"], "{text}");
    assert_eq!(
        text.trim_end().lines().last(),
        Some("Start here: authplane-dev verify"),
        "{text}"
    );
    for (path, ..) in PAGES {
        let name = path.split_whitespace().next().unwrap();
        assert!(
            text.contains(&format!("  {name} ")),
            "{name} missing:\n{text}"
        );
    }
}

/// The example lines of a help text: everything indented under `Examples:`.
fn examples(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Splits a shell command line into words (double quotes group; no other shell syntax).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn every_subcommand_has_two_to_four_examples_that_parse() {
    for (path, ..) in PAGES {
        let text = help(path);
        let lines = examples(&text);
        assert!(
            (2..=4).contains(&lines.len()),
            "`{path} -h` has {} examples:\n{text}",
            lines.len()
        );
        for line in &lines {
            let command = line.split("  #").next().unwrap();
            assert!(
                command.contains(&format!("authplane-dev {path}")),
                "`{path}` example {line:?} is not about {path}"
            );
            for part in command.split('|') {
                let part = part.split('>').next().unwrap().trim();
                let mut example = words(part);
                assert_eq!(example.remove(0), "authplane-dev", "{line:?}");
                // `--help` after a command line that parses prints help and exits 0; an unknown
                // flag or a bad value before it is a usage error (2).
                example.push("--help".into());
                let args: Vec<&str> = example.iter().map(String::as_str).collect();
                let (code, _, stderr) = run(&args);
                assert_eq!(code, 0, "example {line:?} does not parse: {stderr}");
            }
        }
    }
}

/// `args` under `--json`: exit 2 and exactly one JSON object on stdout.
fn json_usage_error(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 2, "{args:?}: stdout {stdout} stderr {stderr}");
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON object ({e}): {stdout}"));
    assert_eq!(doc["ok"], false, "{doc}");
    assert_eq!(doc["exit_code"], 2, "{doc}");
    assert_eq!(doc["error"]["exit_code"], 2, "{doc}");
    assert!(doc["steps"].as_array().is_some_and(Vec::is_empty), "{doc}");
    assert!(
        doc["findings"].as_array().is_some_and(Vec::is_empty),
        "{doc}"
    );
    assert!(
        !doc["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{doc}"
    );
    assert!(stderr.is_empty(), "{args:?}: stderr under --json: {stderr}");
    doc
}

#[test]
fn usage_errors_under_json_are_the_json_envelope() {
    let doc = json_usage_error(&["--json", "verify", "--bogus"]);
    assert_eq!(doc["command"], "verify");
    assert_eq!(doc["error"]["kind"], "unknown_argument");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--bogus"),
        "{doc}"
    );
    assert_eq!(doc["error"]["usage"], "authplane-dev verify [OPTIONS]");

    let doc = json_usage_error(&["verify", "--protocol", "nope", "--json"]);
    assert_eq!(doc["error"]["kind"], "invalid_value");
    assert!(doc["error"]["message"].as_str().unwrap().contains("nope"));

    let doc = json_usage_error(&[
        "--json",
        "--env-file",
        "x.env",
        "serve",
        "echo",
        "--dev-mode=maybe",
    ]);
    assert_eq!(doc["command"], "serve echo");

    let doc = json_usage_error(&["inspect", "--json"]);
    assert_eq!(doc["command"], "inspect");
    assert_eq!(doc["error"]["kind"], "missing_required_argument");

    let doc = json_usage_error(&["--json"]);
    assert_eq!(doc["command"], "authplane-dev");

    let doc = json_usage_error(&["--json", "frobnicate"]);
    assert_eq!(doc["error"]["kind"], "invalid_subcommand");
}

#[test]
fn usage_errors_without_json_stay_text_on_stderr() {
    let (code, stdout, stderr) = run(&["verify", "--bogus"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("unexpected argument '--bogus'"), "{stderr}");
    // After `--` nothing is a flag: a `--json` there does not switch to JSON.
    let (code, stdout, _) = run(&["inspect", "a", "b", "--", "--json"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty(), "{stdout}");
}

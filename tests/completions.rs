//! The completion scripts work in real shells: each test generates the script with the real
//! binary, loads it into bash, zsh or fish, and asks the shell what it would offer for
//! `authplane-dev verify --<TAB>`, `authplane-dev logs <TAB>` and `authplane-dev completions <TAB>`.
//!
//! bash is always there. zsh and fish may not be: their tests skip with a message, except under
//! `AUTHPLANE_DEV_REQUIRE_SHELLS=1`, which `.ci/run` sets after installing both, so a broken
//! script can never pass CI as "skipped".

use std::path::Path;
use std::process::Command as Process;

use assert_cmd::Command;

/// The script `authplane-dev completions <shell>` prints.
fn script(shell: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_authplane-dev"))
        .args(["completions", shell])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "completions {shell}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// True when `shell` can be run; otherwise the test is skipped with a message, or fails under
/// `AUTHPLANE_DEV_REQUIRE_SHELLS=1`.
fn shell_available(shell: &str) -> bool {
    let found = Process::new(shell)
        .args(["-c", "exit 0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("AUTHPLANE_DEV_REQUIRE_SHELLS").as_deref() != Ok("1"),
            "{shell} is not installed and AUTHPLANE_DEV_REQUIRE_SHELLS=1 (.ci/run installs it)"
        );
        #[allow(clippy::print_stderr)] // the skip reason must be visible in test output
        {
            eprintln!("SKIPPED: {shell} is not installed (`apt-get install {shell}`)");
        }
    }
    found
}

/// What the shell offers, one candidate per line (fish adds a tab and a description: dropped).
fn candidates(output: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(output)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `verify` offers its own flags and the global ones it reads; `logs` offers its components and
/// not the backend flags; `completions` offers the shells and no global flag.
fn assert_offers(shell: &str, line: &str, got: &[String]) {
    let (must, must_not): (&[&str], &[&str]) = match line {
        "authplane-dev verify --" => (
            &[
                "--mcp-url",
                "--protocol",
                "--fix",
                "--no-probes",
                "--no-pull",
                "--wait-timeout",
                "--json",
                "--env-file",
                "--as",
            ],
            &["--lines", "--all"],
        ),
        "authplane-dev logs " => (&["authserver", "echo"], &["--as", "--image"]),
        "authplane-dev logs --" => (
            &["--lines", "--follow", "--json", "--env-file"],
            &["--as", "--image", "--fix"],
        ),
        "authplane-dev completions --" => (&[], &["--json", "--env-file", "--as"]),
        "authplane-dev completions " => (&["bash", "zsh", "fish"], &[]),
        other => panic!("no expectation for {other:?}"),
    };
    for want in must {
        assert!(
            got.iter().any(|g| g == want),
            "{shell}: `{line}<TAB>` should offer {want}; it offered {got:?}"
        );
    }
    for unwanted in must_not {
        assert!(
            !got.iter().any(|g| g == unwanted),
            "{shell}: `{line}<TAB>` should not offer {unwanted}; it offered {got:?}"
        );
    }
}

const LINES: &[&str] = &[
    "authplane-dev verify --",
    "authplane-dev logs ",
    "authplane-dev logs --",
    "authplane-dev completions ",
    "authplane-dev completions --",
];

#[test]
fn bash_completes_subcommand_flags_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authplane-dev.bash");
    std::fs::write(&file, script("bash")).unwrap();
    for line in LINES {
        // What bash's readline does on TAB: split the line into COMP_WORDS, then call the
        // function `complete -p` names with the command, the current word and the previous one.
        let program = r#"
            source "$1"
            read -ra COMP_WORDS <<< "$2"
            [[ "$2" == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
            spec=$(complete -p authplane-dev) || exit 3
            function=$(sed -E 's/.*-F ([^ ]+) .*/\1/' <<< "$spec")
            "$function" authplane-dev "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}"
        "#;
        let out = Process::new("bash")
            .args(["--norc", "--noprofile", "-c", program, "bash"])
            .arg(&file)
            .arg(line)
            .output()
            .unwrap();
        assert!(out.status.success(), "bash `{line}`: {out:?}");
        assert_offers("bash", line, &candidates(&out.stdout));
    }
}

#[test]
fn zsh_completes_subcommand_flags_and_values() {
    if !shell_available("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("_authplane-dev"), script("zsh")).unwrap();
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/completions/complete.zsh");
    for line in LINES {
        let out_file = dir.path().join("candidates");
        // `timeout` only guards against a hung shell; nothing here depends on how long it takes.
        let out = Process::new("timeout")
            .args(["120", "zsh", "-f"])
            .arg(&driver)
            .arg(dir.path())
            .arg(&out_file)
            .arg(line)
            .env("TERM", "dumb")
            .output()
            .unwrap();
        assert!(out.status.success(), "zsh `{line}`: {out:?}");
        let got = candidates(&std::fs::read(&out_file).unwrap());
        assert_offers("zsh", line, &got);
    }
}

#[test]
fn fish_completes_subcommand_flags_and_values() {
    if !shell_available("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authplane-dev.fish");
    std::fs::write(&file, script("fish")).unwrap();
    for line in LINES {
        let out = Process::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(&file)
            .arg(line)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "fish `{line}`: {out:?}");
        assert_offers("fish", line, &candidates(&out.stdout));
    }
}

#[test]
fn the_bash_script_has_no_unreachable_subcommand_cases() {
    // The clap_complete bug this guards against: `case` labels spelled differently from the
    // names the word loop assigns, so every subcommand case is dead code.
    let script = script("bash");
    for label in [
        "authplane__dev__subcmd__verify)",
        "authplane__dev__subcmd__logs)",
    ] {
        assert!(script.contains(label), "bash script lacks the case {label}");
    }
    assert!(!script.contains("authplane__subcmd__dev"), "{script}");
}

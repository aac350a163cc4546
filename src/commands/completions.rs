//! `completions <shell>`: prints a completion script for the shell.

use crate::cli::{self, CompletionsArgs};
use crate::report::{Outcome, Reporter};

/// Generates the completion script and hands it to the reporter as the command's text (under
/// `--json`: the `shell` and `script` members).
pub fn run(args: &CompletionsArgs, reporter: &Reporter) -> anyhow::Result<Outcome> {
    let mut command = cli::completion_command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "authplane-dev", &mut script);
    let mut script = String::from_utf8(script)?.trim_end().to_owned();
    match args.shell {
        clap_complete::Shell::Bash => script = fix_bash_hyphen(&script),
        clap_complete::Shell::Fish => script.push_str(&fish_positional_values(&command)),
        _ => {}
    }
    let mut run = reporter.run("completions");
    run.data("shell", serde_json::json!(args.shell.to_string()));
    run.data("script", serde_json::json!(script));
    let mut outcome = run.finish();
    outcome.text.push(script);
    Ok(outcome)
}

/// Works around clap_complete's bash generator (4.6.11, clap-rs/clap issue "bash completion
/// broken for binary names with a hyphen"): the loop that walks the words sets
/// `cmd="authplane__dev__subcmd__verify"` (hyphen replaced by `__`), but the `case` that lists
/// each subcommand's flags is labelled `authplane__subcmd__dev__subcmd__verify` (hyphen replaced
/// by the subcommand separator), so nothing past the first word completed. Renaming the labels
/// to what the loop sets fixes it; when a clap_complete release fixes the generator the pattern
/// no longer occurs and this is a no-op. tests/completions.rs runs the script in real shells.
fn fix_bash_hyphen(script: &str) -> String {
    script.replace(
        "authplane__subcmd__dev__subcmd__",
        "authplane__dev__subcmd__",
    )
}

/// clap_complete's fish generator completes only flags, not positional arguments ("The fish
/// generator currently only supports named options", its source says), so `logs <TAB>` offered
/// file names. This adds one line per subcommand positional that has a fixed set of values
/// (`logs authserver|echo`, `completions bash|zsh|…`), in the generator's own style.
fn fish_positional_values(command: &clap::Command) -> String {
    let mut lines = Vec::new();
    for sc in command.get_subcommands() {
        for arg in sc.get_positionals() {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            if values.is_empty() {
                continue;
            }
            lines.push(format!(
                "\ncomplete -c authplane-dev -n \"__fish_authplane_dev_using_subcommand {}\" -f -a \"{}\"",
                sc.get_name(),
                values.join(" ")
            ));
        }
    }
    lines.concat()
}

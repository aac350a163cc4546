//! `completions <shell>`: prints a completion script for the shell.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::report::{Outcome, Reporter};

/// Generates the completion script and hands it to the reporter as the command's text.
pub fn run(args: &CompletionsArgs, reporter: &Reporter) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "authplane-dev", &mut script);
    let mut outcome = reporter.run("completions").finish();
    outcome
        .text
        .push(String::from_utf8(script)?.trim_end().to_owned());
    Ok(outcome)
}

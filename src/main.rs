//! The thin binary: parse, run, render, pick the exit code.

use std::process::ExitCode;

use clap::Parser;

use authplane_dev::cli::Cli;
use authplane_dev::commands;
use authplane_dev::exit::Exit;
use authplane_dev::report::{OutputOptions, Reporter};

fn main() -> ExitCode {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let invoked_as = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            let reporter = Reporter::new(OutputOptions::default());
            let err = anyhow::Error::new(err).context("starting the async runtime");
            reporter.render_error("authplane-dev", &err, Exit::Internal);
            return Exit::Internal.into();
        }
    };

    // Multi-call: under the name `authserver` this binary behaves like the real authserver CLI.
    if invoked_as == "authserver" {
        let reporter = Reporter::new(OutputOptions::default());
        let result = runtime.block_on(commands::multicall::run(args.collect(), &reporter));
        return finish(&reporter, "authserver", result);
    }

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap renders its own usage errors, help and version text.
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            }
            .into();
        }
    };
    let reporter = Reporter::new(OutputOptions {
        json: cli.global.json,
        color: cli.global.color,
        show_secrets: cli.global.show_secrets,
    });
    let name = commands::command_name(&cli.command);
    let result = runtime.block_on(commands::run(&cli, &reporter));
    finish(&reporter, name, result)
}

fn finish(
    reporter: &Reporter,
    name: &str,
    result: anyhow::Result<authplane_dev::report::Outcome>,
) -> ExitCode {
    match result {
        Ok(outcome) => {
            reporter.render(&outcome);
            outcome.exit().into()
        }
        Err(err) => {
            let exit = Exit::for_error(&err);
            reporter.render_error(name, &err, exit);
            exit.into()
        }
    }
}

//! The thin binary: parse, run, render, pick the exit code.

use std::process::ExitCode;

use clap::FromArgMatches;

use authplane_dev::cli::{self, Cli, Command};
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

    // Multi-call: under the name `authserver` this binary behaves like the real authserver CLI.
    if invoked_as == "authserver" {
        let reporter = Reporter::new(OutputOptions::default());
        let runtime = match runtime(Flavor::Server, &reporter, "authserver") {
            Ok(rt) => rt,
            Err(code) => return code,
        };
        let result = runtime.block_on(commands::multicall::run(args.collect(), &reporter));
        return finish(&reporter, "authserver", result);
    }

    let parsed = cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            let args: Vec<String> = args.collect();
            // Under --json a usage error is the JSON envelope too; help and version stay text.
            let json = args
                .iter()
                .take_while(|a| *a != "--")
                .any(|a| a == "--json");
            if json && err.use_stderr() {
                let reporter = Reporter::new(OutputOptions {
                    json: true,
                    ..OutputOptions::default()
                });
                reporter.render_usage_error(&cli::invoked_command(&args), &err);
                return Exit::Usage.into();
            }
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
    let flavor = if matches!(cli.command, Command::Serve(_)) {
        Flavor::Server
    } else {
        Flavor::Client
    };
    let runtime = match runtime(flavor, &reporter, name) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(commands::run(&cli, &reporter));
    finish(&reporter, name, result)
}

/// What the process is about to be: a server (answers many clients at once) or a client command.
#[derive(Clone, Copy)]
enum Flavor {
    Server,
    Client,
}

/// Servers get a worker per core. Client commands (verify, up, doctor…) run one request after
/// another, so a single-threaded runtime serves them best: no hand-offs between threads, which on
/// a busy machine cost more than the requests themselves.
fn runtime(
    flavor: Flavor,
    reporter: &Reporter,
    name: &str,
) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = match flavor {
        Flavor::Server => tokio::runtime::Builder::new_multi_thread(),
        Flavor::Client => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build().map_err(|err| {
        let err = anyhow::Error::new(err).context("starting the async runtime");
        reporter.render_error(name, &err, Exit::Internal);
        Exit::Internal.into()
    })
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

//! Exit codes and the typed errors that choose them.
//!
//! `main` is the only place that turns an [`Exit`] into a process exit code. Below it, code returns
//! `anyhow::Error`s; [`Exit::for_error`] downcasts to the typed errors here to pick the code, and
//! anything unrecognised is an internal error.

use std::process::ExitCode;

/// The documented exit codes (README "Exit codes", DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: everything checked is right.
    Success = 0,
    /// 1: the checked thing is wrong (an error finding).
    CheckFailed = 1,
    /// 2: usage or configuration error.
    Usage = 2,
    /// 3: environment problem (Docker, ports, an unreachable service).
    Environment = 3,
    /// 4: internal error (a bug in authplane-dev).
    Internal = 4,
    /// 130: interrupted (SIGINT / SIGTERM) while `up` was starting the stack; what it had
    /// started was stopped again. 128 + SIGINT, as shells report a Ctrl-C.
    Interrupted = 130,
}

impl Exit {
    /// The code for an error that ended a command before it could report findings.
    pub fn for_error(err: &anyhow::Error) -> Exit {
        for cause in err.chain() {
            if cause.downcast_ref::<ConfigError>().is_some() {
                return Exit::Usage;
            }
            if cause.downcast_ref::<EnvError>().is_some() {
                return Exit::Environment;
            }
            if cause.downcast_ref::<clap::Error>().is_some() {
                return Exit::Usage;
            }
            if cause.downcast_ref::<Interrupted>().is_some() {
                return Exit::Interrupted;
            }
        }
        Exit::Internal
    }

    /// The numeric code, as documented.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The user's configuration or command line is wrong (exit 2).
///
/// Every variant's message says what happened, why and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read {path}: {reason}. The .env file must hold one KEY=value per line (quotes and \
         comments allowed). Fix the line, or point --env-file at another file"
    )]
    EnvFile { path: String, reason: String },
    #[error(
        "the env file {path} does not exist. It was named with --env-file, so authplane-dev does \
         not fall back to another file. Fix: check the path, or drop --env-file to use ./.env"
    )]
    MissingEnvFile { path: String },
    #[error("{name}={value:?} is not valid: {reason}. Fix: {fix}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
        fix: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Something outside the user's configuration is in the way (exit 3): Docker, a port, a service.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{what}. {why}. Fix: {fix}")]
    Explained {
        what: String,
        why: String,
        fix: String,
    },
}

impl EnvError {
    /// Builds the what / why / how-to-fix error every environment failure uses.
    pub fn explained(
        what: impl Into<String>,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        EnvError::Explained {
            what: what.into(),
            why: why.into(),
            fix: fix.into(),
        }
    }
}

/// A signal ended the command early (exit 130); the message says what was undone.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_choose_their_code_through_context() {
        let err =
            anyhow::Error::new(ConfigError::Invalid("bad".into())).context("loading settings");
        assert_eq!(Exit::for_error(&err), Exit::Usage);
        let err = anyhow::Error::new(EnvError::explained("a", "b", "c")).context("starting");
        assert_eq!(Exit::for_error(&err), Exit::Environment);
        assert_eq!(Exit::for_error(&anyhow::anyhow!("boom")), Exit::Internal);
        let err = anyhow::Error::new(Interrupted("stopped".into()));
        assert_eq!(Exit::for_error(&err), Exit::Interrupted);
        assert_eq!(Exit::Interrupted.code(), 130);
    }
}

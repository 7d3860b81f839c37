//! Errors of a command and the exit codes they map to.

use std::fmt;

/// Exit status of a command that did what was asked and whose call (if any) succeeded.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit status of a user error: bad arguments, a missing or garbage file, an unknown
/// address, bad hex, gas too low to start, a refused deploy.
pub(crate) const EXIT_USER: i32 = 1;
/// Exit status of a fault of the node itself: the state database or an engine failed.
pub(crate) const EXIT_FAULT: i32 = 2;
/// Exit status when the contract failed (non-zero exit code) or trapped; the outcome is
/// printed all the same.
pub(crate) const EXIT_CONTRACT_FAILED: i32 = 3;
/// Exit status of an internal error (a bug in tosvm); there should be none.
pub(crate) const EXIT_INTERNAL: i32 = 101;

/// Why a command could not do what was asked. Printed as one `error: ` line.
#[derive(Debug)]
pub(crate) struct CliError {
    fault: bool,
    message: String,
}

impl CliError {
    /// An error of the user's making (exit status 1).
    pub(crate) fn user(message: impl Into<String>) -> Self {
        CliError {
            fault: false,
            message: message.into(),
        }
    }

    /// A fault of the node: the database or an engine failed (exit status 2).
    pub(crate) fn fault(message: impl Into<String>) -> Self {
        CliError {
            fault: true,
            message: message.into(),
        }
    }

    /// Whether this is a node fault rather than a user error.
    pub(crate) fn is_fault(&self) -> bool {
        self.fault
    }

    /// The process exit status for this error.
    pub(crate) fn exit_code(&self) -> i32 {
        if self.fault { EXIT_FAULT } else { EXIT_USER }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<tos_host::Error> for CliError {
    fn from(e: tos_host::Error) -> Self {
        use tos_host::Error as E;
        match e {
            E::Provider(_) | E::Fault(_) => CliError::fault(e.to_string()),
            _ => CliError::user(e.to_string()),
        }
    }
}

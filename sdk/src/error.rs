//! The one error type of plugin code: a reason, which the host shows to the user.

use std::fmt;

/// Why a config was refused or a record failed; becomes the contract's `string` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub fn new(reason: impl Into<String>) -> Error {
        Error(reason.into())
    }

    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(reason: String) -> Error {
        Error(reason)
    }
}

impl From<&str> for Error {
    fn from(reason: &str) -> Error {
        Error(reason.to_string())
    }
}

impl From<Error> for String {
    fn from(error: Error) -> String {
        error.0
    }
}

//! Errors that are the user's to fix (a bad file, a bad option), as opposed to
//! failures of the runtime itself. The binary maps them to exit code 2.

use std::fmt;

/// A problem with what the user gave us: a file that is not what it should
/// be, an option out of range. The message names the file and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Builds an [`InputError`] wrapped in an `anyhow::Error`.
#[macro_export]
macro_rules! input_error {
    ($($arg:tt)*) => { anyhow::Error::new($crate::error::InputError(format!($($arg)*))) };
}

/// True when the error (or anything in its chain) is an [`InputError`].
pub fn is_input_error(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<InputError>().is_some())
}

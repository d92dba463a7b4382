//! Errors of the core, each with a stable code that the Node binding passes on to JavaScript.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
  #[error("invalid option `{name}`: {reason}")]
  InvalidOption { name: &'static str, reason: String },
  #[error("`{name}` has length {got}, expected {expected}")]
  BadLength {
    name: &'static str,
    got: usize,
    expected: usize,
  },
  #[error("every walker has a non-finite energy, gradient or weight ({invalid} of {walkers}); the run has diverged")]
  AllWalkersInvalid { invalid: usize, walkers: usize },
  #[error("{0}")]
  BadState(&'static str),
  #[error("out of memory allocating {0} bytes")]
  OutOfMemory(usize),
  /// A compute backend (CUDA) is unavailable or failed; the message says why.
  #[error("{0}")]
  Backend(String),
}

impl CoreError {
  /// Stable machine-readable code, shown to JavaScript as `error.code`.
  pub fn code(&self) -> &'static str {
    match self {
      CoreError::InvalidOption { .. } => "ERR_JARZYN_INVALID_OPTION",
      CoreError::BadLength { .. } => "ERR_JARZYN_BAD_LENGTH",
      CoreError::AllWalkersInvalid { .. } => "ERR_JARZYN_ALL_WALKERS_INVALID",
      CoreError::BadState(_) => "ERR_JARZYN_BAD_STATE",
      CoreError::OutOfMemory(_) => "ERR_JARZYN_OUT_OF_MEMORY",
      CoreError::Backend(_) => "ERR_JARZYN_BACKEND",
    }
  }

  /// Which JavaScript error class fits: RangeError for values and lengths out of range.
  pub fn js_class(&self) -> &'static str {
    match self {
      CoreError::InvalidOption { .. } | CoreError::BadLength { .. } => "RangeError",
      _ => "Error",
    }
  }
}

pub type Result<T> = std::result::Result<T, CoreError>;

/// Fails unless `got == expected` (the length of argument `name`).
pub(crate) fn check_len(name: &'static str, got: usize, expected: usize) -> Result<()> {
  if got != expected {
    return Err(CoreError::BadLength { name, got, expected });
  }
  Ok(())
}

//! Errors cross into JavaScript as real `TypeError` / `RangeError` / `Error` objects with a stable
//! `code` (`ERR_JARZYN_*`), thrown on the env here; the `napi::Error` returned after the throw is
//! tagged `PendingException` so that napi does not throw a second one.

use jarzyn_core::CoreError;
use napi::bindgen_prelude::*;

/// The JavaScript class of an error.
#[derive(Clone, Copy)]
pub(crate) enum Class {
  Error,
  TypeError,
  RangeError,
}

/// Throw `code: message` as a `class` on `env`; return the error to hand back to napi.
pub(crate) fn throw(env: &Env, class: Class, code: &str, message: &str) -> Error {
  // If the env cannot take the exception (it is tearing down), napi throws `message` itself.
  let thrown = match class {
    Class::Error => env.throw_error(message, Some(code)),
    Class::TypeError => env.throw_type_error(message, Some(code)),
    Class::RangeError => env.throw_range_error(message, Some(code)),
  };
  match thrown {
    Ok(()) => Error::new(Status::PendingException, message.to_string()),
    Err(_) => Error::new(Status::GenericFailure, format!("{code}: {message}")),
  }
}

/// A core error as a JavaScript error of its class and code.
pub(crate) fn core_error(env: &Env, e: CoreError) -> Error {
  let class = match e.js_class() {
    "RangeError" => Class::RangeError,
    "TypeError" => Class::TypeError,
    _ => Class::Error,
  };
  throw(env, class, e.code(), &e.to_string())
}

/// `result.or_throw(env)?`: a core result in a binding function.
pub(crate) trait OrThrow<T> {
  fn or_throw(self, env: &Env) -> Result<T>;
}

impl<T> OrThrow<T> for jarzyn_core::Result<T> {
  fn or_throw(self, env: &Env) -> Result<T> {
    self.map_err(|e| core_error(env, e))
  }
}

pub(crate) fn disposed(env: &Env, what: &str) -> Error {
  throw(
    env,
    Class::Error,
    "ERR_JARZYN_DISPOSED",
    &format!("the {what} was disposed; create a new one"),
  )
}

/// Fails with ERR_JARZYN_ALIASED when two arrays share memory (a Rust `&mut` to one and a `&` to
/// the other must not overlap).
pub(crate) fn check_no_alias<A, B>(env: &Env, a: &[A], b: &[B], what: &str) -> Result<()> {
  let (ra, rb) = (jarzyn_core::addr_range(a), jarzyn_core::addr_range(b));
  if ra.start < rb.end && rb.start < ra.end && !ra.is_empty() && !rb.is_empty() {
    return Err(throw(env, Class::TypeError, "ERR_JARZYN_ALIASED", what));
  }
  Ok(())
}

/// A seed from JavaScript: a BigInt in [0, 2^64).
pub(crate) fn seed(env: &Env, s: BigInt) -> Result<u64> {
  let (negative, value, lossless) = s.get_u64();
  if negative || !lossless {
    return Err(throw(
      env,
      Class::RangeError,
      "ERR_JARZYN_INVALID_OPTION",
      "invalid option `seed`: must be in [0, 2^64)",
    ));
  }
  Ok(value)
}

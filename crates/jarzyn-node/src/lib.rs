//! Node.js binding of jarzyn-core. Thin on purpose: argument checks that need JavaScript values
//! (aliasing, typed-array kinds) happen here; everything else is the core's. The public,
//! documented API is the TypeScript layer in `ts/`, which wraps these classes.
#![deny(clippy::all)]

use std::ops::Range;

use jarzyn_core::CoreError;
use napi::bindgen_prelude::*;

mod gmm;
mod rng;
mod sampler;

/// Errors cross the boundary as "CODE|Class|message"; the TypeScript layer turns them into a
/// TypeError/RangeError/Error with `code` set.
pub(crate) fn js_err(e: CoreError) -> Error {
  Error::new(Status::GenericFailure, format!("{}|{}|{}", e.code(), e.js_class(), e))
}

pub(crate) fn disposed() -> Error {
  Error::new(
    Status::GenericFailure,
    "ERR_JARZYN_DISPOSED|Error|the sampler was disposed; create a new one".to_string(),
  )
}

pub(crate) fn addr_range<T>(s: &[T]) -> Range<usize> {
  let start = s.as_ptr() as usize;
  start..start + std::mem::size_of_val(s)
}

pub(crate) fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
  a.start < b.end && b.start < a.end && !a.is_empty() && !b.is_empty()
}

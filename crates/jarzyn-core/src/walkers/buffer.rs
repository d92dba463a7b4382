//! [`FixedBuf`]: the walkers' host buffers, at addresses that never change (JavaScript views point
//! into them); [`HostBuffers`], the four of them a population shows; and [`SharedPtr`], which
//! chunked parallel loops split into disjoint ranges.

use std::sync::Arc;

use super::{View, WalkerConfig};
use crate::error::{CoreError, Result};

/// A heap buffer whose address never changes: JavaScript views point into it. The memory is
/// reference-counted so that a view can keep it alive after the sampler that made it is gone
/// (external-buffer finalizers run only when the garbage collector gets to them).
pub struct FixedBuf<T: Copy + Default + Send + Sync + 'static> {
  mem: Arc<RawBuf<T>>,
}

struct RawBuf<T> {
  ptr: *mut T,
  len: usize,
}

// SAFETY: RawBuf owns its allocation; access is coordinated by the sampler (one mutator at a time).
unsafe impl<T: Send> Send for RawBuf<T> {}
unsafe impl<T: Sync> Sync for RawBuf<T> {}

impl<T> Drop for RawBuf<T> {
  fn drop(&mut self) {
    // SAFETY: ptr/len came from Box::into_raw of a boxed slice of exactly this length.
    unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len))) }
  }
}

impl<T: Copy + Default + Send + Sync + 'static> FixedBuf<T> {
  /// `len` zeroed elements (e.g. host mirrors of a device sampler's buffers, viewed from JavaScript).
  pub fn new(len: usize) -> Result<Self> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
      .map_err(|_| CoreError::OutOfMemory(len * std::mem::size_of::<T>()))?;
    v.resize(len, T::default());
    let b = Box::into_raw(v.into_boxed_slice());
    Ok(FixedBuf {
      mem: Arc::new(RawBuf { ptr: b as *mut T, len }),
    })
  }
  pub fn as_slice(&self) -> &[T] {
    // SAFETY: live allocation of len elements; JS only touches it while no Rust code runs.
    unsafe { std::slice::from_raw_parts(self.mem.ptr, self.mem.len) }
  }
  pub fn as_mut_slice(&mut self) -> &mut [T] {
    // SAFETY: as above, and &mut self makes this the only Rust reference.
    unsafe { std::slice::from_raw_parts_mut(self.mem.ptr, self.mem.len) }
  }
  pub fn as_mut_ptr(&mut self) -> *mut T {
    self.mem.ptr
  }
  /// Address range, to detect caller arrays that alias this buffer.
  pub fn addr_range(&self) -> std::ops::Range<usize> {
    let start = self.mem.ptr as usize;
    start..start + self.mem.len * std::mem::size_of::<T>()
  }
  /// A handle that keeps the memory alive (for a JavaScript view's finalizer).
  pub fn keep_alive(&self) -> Arc<dyn std::any::Any + Send + Sync> {
    self.mem.clone()
  }
  pub fn len(&self) -> usize {
    self.mem.len
  }
  pub fn is_empty(&self) -> bool {
    self.mem.len == 0
  }
}

/// The four host buffers behind a population's [`View`]s: the walkers' own state on the CPU, the
/// mirrors of the device's on a GPU.
pub struct HostBuffers {
  /// Positions X, N x d row-major.
  pub positions: FixedBuf<f32>,
  /// Gradients of the last observation, N x d.
  pub gradients: FixedBuf<f32>,
  /// Energies of the last observation.
  pub energies: FixedBuf<f32>,
  /// Log-weights A.
  pub log_weights: FixedBuf<f64>,
}

impl HostBuffers {
  /// Zeroed buffers for `cfg`'s walkers.
  pub fn new(cfg: &WalkerConfig) -> Result<Self> {
    let (n, nd) = (cfg.walkers, cfg.elements());
    Ok(HostBuffers {
      positions: FixedBuf::new(nd)?,
      gradients: FixedBuf::new(nd)?,
      energies: FixedBuf::new(n)?,
      log_weights: FixedBuf::new(n)?,
    })
  }

  /// The f32 buffer of `view` (the log-weights are f64: an error).
  pub fn f32_buffer(&mut self, view: View) -> Result<&mut FixedBuf<f32>> {
    match view {
      View::Positions => Ok(&mut self.positions),
      View::Gradients => Ok(&mut self.gradients),
      View::Energies => Ok(&mut self.energies),
      View::LogWeights => Err(CoreError::InvalidOption {
        name: "view",
        reason: "the log-weights are f64: use log_weight_buffer".into(),
      }),
    }
  }

  /// Whether `s` overlaps any of the four buffers.
  pub(crate) fn aliases(&self, s: &[f32]) -> bool {
    let r = crate::addr_range(s);
    [
      self.positions.addr_range(),
      self.gradients.addr_range(),
      self.energies.addr_range(),
      self.log_weights.addr_range(),
    ]
    .iter()
    .any(|o| o.start < r.end && r.start < o.end && !r.is_empty())
  }
}

/// Raw pointer that chunked parallel loops split into disjoint ranges.
#[derive(Clone, Copy)]
pub(crate) struct SharedPtr<T>(pub(crate) *mut T);
unsafe impl<T> Send for SharedPtr<T> {}
unsafe impl<T> Sync for SharedPtr<T> {}
impl<T> SharedPtr<T> {
  /// SAFETY: callers hand each parallel chunk a disjoint range of a live allocation.
  #[allow(clippy::mut_from_ref)]
  pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
    std::slice::from_raw_parts_mut(self.0.add(start), len)
  }
}

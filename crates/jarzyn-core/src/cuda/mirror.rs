//! [`CudaWalkers`]: the [`Walkers`] interface over [`DeviceWalkers`], with host mirrors of the
//! four device buffers for the caller's views.
//!
//! Mirror rules (the TypeScript layer documents them for users):
//! - A mirror is `Clean(g)` when it equals the device buffer as of the walkers' generation `g`,
//!   `Stale` when the device has changed since, and `HostDirty` when the caller was handed the view
//!   for writing since the last copy (writes cannot be seen, so a handed-out view counts as
//!   written).
//! - [`Walkers::sync_view`] copies a stale mirror from the device (N d 4 bytes for positions and
//!   gradients, N 4 for energies, N 8 for log-weights).
//! - Before an operation reads a buffer on the device, a `HostDirty` mirror of it is copied to the
//!   device, except positions between `move()` and `observe()`, which the device refuses: those
//!   writes are dropped and the mirror refreshed from the device on its next read.
//! - After an operation, the buffers it wrote are `Stale`; the others keep their state.

use rayon::prelude::*;

use super::walkers::DeviceWalkers;
use crate::energy::{DeviceModel, Energy, WalkerPart};
use crate::error::Result;
use crate::resample::Scheme;
use crate::walkers::{
  walker_chunk, Counters, DeviceInfo, HostBuffers, Observation, ObserveReport, View, WalkerConfig, Walkers,
};
use crate::weights::WeightSummary;

const X: usize = View::Positions as usize;
const G: usize = View::Gradients as usize;
const E: usize = View::Energies as usize;
const A: usize = View::LogWeights as usize;
const ALL: u8 = 0b1111;
const fn bit(i: usize) -> u8 {
  1 << i
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mirror {
  Stale,
  Clean(u64),
  HostDirty,
}

/// Walkers on an NVIDIA GPU, seen through host mirrors of their buffers.
pub struct CudaWalkers {
  device: DeviceWalkers,
  /// The mirrors.
  host: HostBuffers,
  state: [Mirror; 4],
  /// Bytes copied device -> host into the mirrors, and host -> device from them.
  traffic: [u64; 2],
}

impl CudaWalkers {
  /// Walkers on device 0 (fails with [`crate::CoreError::Backend`] when CUDA cannot run here).
  pub fn new(cfg: WalkerConfig) -> Result<Self> {
    let device = DeviceWalkers::new(cfg)?;
    let g = device.generation();
    Ok(CudaWalkers {
      host: HostBuffers::new(device.config())?,
      state: [Mirror::Clean(g); 4],
      device,
      traffic: [0, 0],
    })
  }

  /// The device walkers themselves (benchmarks, tests).
  pub fn device_walkers(&mut self) -> &mut DeviceWalkers {
    &mut self.device
  }

  fn bytes_of(&self, i: usize) -> u64 {
    let c = self.device.config();
    (match i {
      X | G => c.elements() * 4,
      E => c.walkers * 4,
      _ => c.walkers * 8,
    }) as u64
  }

  fn current(&self, i: usize) -> bool {
    self.state[i] == Mirror::Clean(self.device.generation())
  }

  /// Copy buffer `i` from the device into its mirror unless the mirror is current or host-written.
  fn pull(&mut self, i: usize) -> Result<()> {
    if self.state[i] == Mirror::HostDirty || self.current(i) {
      return Ok(());
    }
    let d = &self.device;
    match i {
      X => self.host.positions.as_mut_slice().copy_from_slice(&d.positions()?),
      G => self.host.gradients.as_mut_slice().copy_from_slice(&d.gradients()?),
      E => self.host.energies.as_mut_slice().copy_from_slice(&d.energies()?),
      _ => self.host.log_weights.as_mut_slice().copy_from_slice(&d.log_weights()?),
    }
    self.traffic[0] += self.bytes_of(i);
    self.state[i] = Mirror::Clean(self.device.generation());
    Ok(())
  }

  /// Copy a host-written mirror to the device.
  fn push(&mut self, i: usize) -> Result<()> {
    let g0 = self.device.generation();
    match i {
      X => self.device.set_positions(self.host.positions.as_slice())?,
      G => self.device.set_gradients(self.host.gradients.as_slice())?,
      E => self.device.set_energies(self.host.energies.as_slice())?,
      _ => self.device.set_log_weights(self.host.log_weights.as_slice())?,
    }
    self.traffic[1] += self.bytes_of(i);
    let g1 = self.device.generation();
    for (j, st) in self.state.iter_mut().enumerate() {
      if j == i || *st == Mirror::Clean(g0) {
        *st = Mirror::Clean(g1);
      }
    }
    Ok(())
  }

  /// Before an operation that reads the buffers in `reads` on the device: send host writes there.
  fn pre(&mut self, reads: u8) -> Result<u64> {
    for i in [X, G, E, A] {
      if reads & bit(i) == 0 || self.state[i] != Mirror::HostDirty {
        continue;
      }
      if i == X && self.device.move_pending() {
        // The device refuses positions between move() and observe(): drop the writes.
        self.state[X] = Mirror::Stale;
      } else {
        self.push(i)?;
      }
    }
    Ok(self.device.generation())
  }

  /// After an operation that began at generation `g0` and may have written `writes`: those are
  /// stale, the others still mirror the device. Called whatever the operation returned (an error
  /// after a partial update bumps the generation too).
  fn post(&mut self, g0: u64, writes: u8) {
    let g1 = self.device.generation();
    if g1 == g0 {
      return;
    }
    for (i, st) in self.state.iter_mut().enumerate() {
      if writes & bit(i) != 0 {
        *st = Mirror::Stale;
      } else if *st == Mirror::Clean(g0) {
        *st = Mirror::Clean(g1);
      }
    }
  }

  /// Run `f` on the device walkers with the book-keeping of an operation that reads `reads` and
  /// may write `writes`.
  fn op<R>(&mut self, reads: u8, writes: u8, f: impl FnOnce(&mut DeviceWalkers) -> Result<R>) -> Result<R> {
    let g0 = self.pre(reads)?;
    let r = f(&mut self.device);
    self.post(g0, writes);
    r
  }

  /// Observe the energies and gradients in the mirrors (one copy of each to the device). Mirrors
  /// the caller has not written are refreshed first, so that an in-place observation re-observes
  /// the last observation, as on the CPU.
  fn observe_mirrors(&mut self) -> Result<ObserveReport> {
    self.pull(E)?;
    self.pull(G)?;
    let g0 = self.pre(bit(X) | bit(A))?;
    let r = self.device.observe(Observation::External {
      energy: self.host.energies.as_slice(),
      grad: self.host.gradients.as_slice(),
    });
    let g1 = self.device.generation();
    self.post(g0, bit(A));
    if g1 != g0 {
      // The device now holds what the mirrors hold.
      self.state[E] = Mirror::Clean(g1);
      self.state[G] = Mirror::Clean(g1);
    }
    r
  }

  /// An energy without device kernels, evaluated on the host at the positions' mirror, in the
  /// CPU's chunks, into the energy and gradient mirrors.
  fn evaluate_on_host(&mut self, energy: &dyn Energy) -> Result<()> {
    // The positions the device will observe at: written ones are sent (or, between a move and the
    // observation, dropped as the device refuses them) before the mirror is read.
    self.pre(bit(X))?;
    self.pull(X)?;
    let d = self.device.config().dim;
    let cw = walker_chunk(d);
    let x = self.host.positions.as_slice();
    let (e, g) = (self.host.energies.as_mut_slice(), self.host.gradients.as_mut_slice());
    self.device.pool().install(|| {
      x.par_chunks(cw * d)
        .zip(e.par_chunks_mut(cw))
        .zip(g.par_chunks_mut(cw * d))
        .for_each(|((xc, ec), gc)| energy.evaluate(xc, ec, gc))
    });
    self.state[E] = Mirror::HostDirty;
    self.state[G] = Mirror::HostDirty;
    Ok(())
  }
}

impl Walkers for CudaWalkers {
  fn config(&self) -> &WalkerConfig {
    self.device.config()
  }

  fn device(&self) -> Option<&DeviceInfo> {
    Some(self.device.device_info())
  }

  fn state_key(&self) -> (u64, u64) {
    self.device.book.state_key()
  }

  fn counters(&self) -> Counters {
    self.device.counters()
  }

  fn restore_counters(&mut self, c: Counters) -> Result<()> {
    self.op(ALL, 0, |s| s.restore_counters(c))
  }

  fn set_step_size(&mut self, h: f64) -> Result<()> {
    self.device.set_step_size(h)
  }

  fn set_noise_std(&mut self, std: Option<f64>) -> Result<()> {
    self.device.book.set_noise_std(std)
  }

  fn host_buffers(&mut self) -> &mut HostBuffers {
    &mut self.host
  }

  fn sync_view(&mut self, view: View, write: bool) -> Result<()> {
    let i = view as usize;
    self.pull(i)?;
    if write {
      self.state[i] = Mirror::HostDirty;
    }
    Ok(())
  }

  fn view_traffic(&self) -> [u64; 2] {
    self.traffic
  }

  fn move_walkers(&mut self) -> Result<()> {
    self.op(ALL, bit(X), |s| s.move_walkers())
  }

  fn observe(&mut self, obs: Observation<'_>) -> Result<ObserveReport> {
    match obs {
      Observation::InPlace => self.observe_mirrors(),
      // The device only reads the inputs (the mirrors are not written), so inputs that alias the
      // mirrors need no copy.
      Observation::External { energy, grad } => self.op(bit(X) | bit(A), bit(A) | bit(E) | bit(G), |s| {
        s.observe(Observation::External { energy, grad })
      }),
    }
  }

  fn observe_energy(&mut self, energy: &dyn Energy, fold: bool) -> Result<(ObserveReport, Vec<WalkerPart>)> {
    crate::walkers::check_len("energy dim", energy.dim(), self.config().dim)?;
    let report = match energy.device_model() {
      DeviceModel::GaussianMixture(m) => self.op(bit(X) | bit(A), bit(A) | bit(E) | bit(G), |s| s.observe_gmm(m))?,
      DeviceModel::None => {
        self.evaluate_on_host(energy)?;
        self.observe_mirrors()?
      }
    };
    let parts = if fold { self.walker_sums(energy)? } else { Vec::new() };
    Ok((report, parts))
  }

  fn walker_sums(&mut self, energy: &dyn Energy) -> Result<Vec<WalkerPart>> {
    crate::walkers::check_len("energy dim", energy.dim(), self.config().dim)?;
    match energy.device_model() {
      DeviceModel::GaussianMixture(m) => self.op(bit(X) | bit(A), 0, |s| s.gmm_walker_parts(m)),
      DeviceModel::None => {
        self.pull(X)?;
        self.pull(A)?;
        let d = self.device.config().dim;
        let cw = walker_chunk(d);
        let (x, a) = (self.host.positions.as_slice(), self.host.log_weights.as_slice());
        Ok(self.device.pool().install(|| {
          x.par_chunks(cw * d)
            .zip(a.par_chunks(cw))
            .map(|(xc, ac)| energy.walker_part(xc, ac))
            .collect()
        }))
      }
    }
  }

  fn fill_positions(&mut self, fill: &mut dyn FnMut(&mut [f32]) -> Result<()>) -> Result<()> {
    self.device.book.check_positions_writable()?;
    // Into the host mirror, then to the device at once: the state key changes with the positions,
    // as on the CPU (a gradient folded into the last observation must not be used for them).
    // Dirty before `fill` runs: a fill that fails half-way leaves written rows, as on the CPU.
    self.state[X] = Mirror::HostDirty;
    fill(self.host.positions.as_mut_slice())?;
    self.push(X)
  }

  fn summary(&mut self) -> Result<WeightSummary> {
    self.op(bit(A), 0, |s| s.summary())
  }

  fn log_normalizer_ratio(&mut self) -> Result<f64> {
    self.op(bit(A), 0, |s| s.log_normalizer_ratio())
  }

  fn normalized_weights(&mut self, out: &mut [f64]) -> Result<WeightSummary> {
    crate::walkers::check_len("out", out.len(), self.config().walkers)?;
    self.op(bit(A), 0, |s| {
      let w = s.summary()?;
      out.copy_from_slice(&s.normalized_weights()?);
      Ok(w)
    })
  }

  fn resample(&mut self, scheme: Scheme) -> Result<Vec<usize>> {
    self.op(ALL, ALL, |s| s.resample(scheme))
  }

  fn maybe_resample(&mut self, ess_fraction: f64, scheme: Scheme) -> Result<bool> {
    self.op(ALL, ALL, |s| s.maybe_resample(ess_fraction, scheme))
  }

  fn reinitialize(&mut self) -> Result<()> {
    self.op(0, bit(A), |s| s.reinitialize())
  }
}

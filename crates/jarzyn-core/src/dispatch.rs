//! Runtime CPU dispatch: compile a hot kernel twice, for the baseline target and with AVX2, and run
//! the AVX2 copy when the CPU has it. Results do not depend on the copy taken: kernels use only
//! IEEE-exact f32/f64 add, mul, div and sqrt in an order fixed by the source (Rust never fuses
//! multiply-adds on its own), so wider vectors change the speed, not the bits.

/// `avx2_dispatch!(pub fn name = inner(args) -> ret)` defines `name`, which calls `inner`
/// (an `#[inline(always)]` function) from a copy compiled with AVX2 when available.
macro_rules! avx2_dispatch {
  // `inner::<AVX2>`: the inner function takes a `const AVX2: bool` telling it which copy it is in,
  // so it can call explicit AVX2 intrinsics where the compiler does not vectorise on its own.
  ($vis:vis fn $name:ident = $inner:ident :: <AVX2> ( $($a:ident : $t:ty),* $(,)? ) $(-> $ret:ty)?) => {
    $vis fn $name($($a: $t),*) $(-> $ret)? {
      #[cfg(target_arch = "x86_64")]
      {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2($($a: $t),*) $(-> $ret)? {
          $inner::<true>($($a),*)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
          // SAFETY: the CPU supports AVX2, checked just above.
          return unsafe { avx2($($a),*) };
        }
      }
      $inner::<false>($($a),*)
    }
  };
  ($vis:vis fn $name:ident = $inner:ident ( $($a:ident : $t:ty),* $(,)? ) $(-> $ret:ty)?) => {
    $vis fn $name($($a: $t),*) $(-> $ret)? {
      #[cfg(target_arch = "x86_64")]
      {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2($($a: $t),*) $(-> $ret)? {
          $inner($($a),*)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
          // SAFETY: the CPU supports AVX2, checked just above.
          return unsafe { avx2($($a),*) };
        }
      }
      $inner($($a),*)
    }
  };
}

pub(crate) use avx2_dispatch;

/// First statement of a test of AVX2 code: on a CPU without AVX2 the test passes without running.
#[cfg(all(test, target_arch = "x86_64"))]
macro_rules! require_avx2 {
  () => {
    if !std::arch::is_x86_feature_detected!("avx2") {
      return;
    }
  };
}

#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) use require_avx2;

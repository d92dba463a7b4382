//! Native energies ([`crate::Energy`] implementations).

pub mod gmm;

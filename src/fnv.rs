//! FNV-1a, 64-bit: a tiny hash whose values are the same on every run and with every
//! Rust version (std's hasher promises neither). Used for the spec hash stored in
//! job.json, each job's log colour, and noticing that spec files changed.

/// An FNV-1a hash being computed.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Adds bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> &mut Fnv {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(Fnv::new().finish(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv::new().write(b"a").finish(), 0xaf63_dc4c_8601_ec8c);
    }
}

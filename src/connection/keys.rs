//! Masking keys for client frames, from the operating system's entropy
//! source (RFC 6455 §5.3 requires unpredictable keys).

/// A buffer of random bytes handed out four at a time, refilled with one
/// system call per 64 keys.
pub(crate) struct MaskKeys {
    pool: [u8; 256],
    at: usize,
}

impl MaskKeys {
    pub(crate) fn new() -> MaskKeys {
        MaskKeys {
            pool: [0; 256],
            at: 256,
        }
    }

    pub(crate) fn next(&mut self) -> [u8; 4] {
        if self.at == self.pool.len() {
            getrandom::fill(&mut self.pool).expect("the OS entropy source failed");
            self.at = 0;
        }
        let key = [
            self.pool[self.at],
            self.pool[self.at + 1],
            self.pool[self.at + 2],
            self.pool[self.at + 3],
        ];
        self.at += 4;
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ() {
        let mut keys = MaskKeys::new();
        let all: Vec<[u8; 4]> = (0..200).map(|_| keys.next()).collect();
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert!(distinct.len() > 190);
    }
}

//! Converting cgroup v1 values to their v2 equivalents, with the same
//! formulas runc uses, so a config written for one layout works on both.

/// cpu.shares [2, 262144] to cpu.weight [1, 10000]; 0 means unset.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// blkio.weight [10, 1000] to io.weight [1, 10000]; 0 means unset.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + ((u64::from(w).clamp(10, 1000) - 10) * 9999) / 990
}

/// v1 memory.memsw (memory + swap) to v2 memory.swap.max (swap alone).
pub fn swap_v1_to_v2(swap: i64, limit: Option<i64>) -> String {
    match (swap, limit) {
        (-1, _) => "max".into(),
        (0, _) => "0".into(),
        (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
        (s, _) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_shares() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(1), 1);
    }

    #[test]
    fn blkio_weight() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(0), 0);
    }

    #[test]
    fn swap() {
        assert_eq!(swap_v1_to_v2(-1, Some(100)), "max");
        assert_eq!(swap_v1_to_v2(300, Some(100)), "200");
        assert_eq!(swap_v1_to_v2(100, Some(100)), "0");
        assert_eq!(swap_v1_to_v2(0, None), "0");
    }
}

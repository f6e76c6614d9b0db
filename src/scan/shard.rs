//! `--shard K/N`: deterministic slices of a file list, so that a fleet of machines can split an
//! archive with the job runner it already has.
//!
//! A file belongs to shard `K` of `N` when `mix(fnv1a64(key)) % N == K - 1`, where `key` is the
//! file's path below the operand it was found under (`2024-05-01/trace3.pcap.gz` for
//! `scan /mnt/archive`), or its file name for a file operand. So the slices do not depend on where
//! the archive is mounted, on the machine, the run, or the order the walk returned. FNV-1a is the
//! 64-bit one (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`); `mix` is MurmurHash3's
//! 64-bit finaliser, which makes every bit of the hash depend on every byte (FNV-1a's low bits
//! depend only on the bytes' low bits).

use std::fmt;
use std::str::FromStr;

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not K/N with 1 ≤ K ≤ N (e.g. 1/4 … 4/4)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = k.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(if index == 0 {
                format!(
                    "`{s}`: shards are numbered from 1 (Kubernetes' 0-based JOB_COMPLETION_INDEX: use $((JOB_COMPLETION_INDEX + 1)))"
                )
            } else {
                bad()
            });
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// True when the file with this key belongs to this shard.
    pub fn contains(&self, key: &str) -> bool {
        shard_of(key, self.count) == self.index
    }
}

/// 64-bit FNV-1a.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// MurmurHash3's 64-bit finaliser.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The 1-based shard of `count` that the file with this key belongs to.
pub fn shard_of(key: &str, count: u64) -> u64 {
    mix(fnv1a64(key.as_bytes())) % count.max(1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/5".parse(), Ok(Shard { index: 2, count: 5 }));
        assert_eq!("1/1".parse(), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "-1/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert!(
            "0/3"
                .parse::<Shard>()
                .unwrap_err()
                .contains("numbered from 1")
        );
    }

    #[test]
    fn hash_is_stable() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // Pinned (computed independently): a change here moves files between the shards of
        // existing fleets.
        assert_eq!(shard_of("trace0.pcap", 4), 3);
        assert_eq!(shard_of("2024-05-01/trace3.pcap.gz", 7), 6);
    }

    #[test]
    fn slices_partition_and_balance() {
        let keys: Vec<String> = (0..4000)
            .map(|i| format!("day{}/trace{i}", i % 7))
            .collect();
        for n in 1..=9u64 {
            let mut sizes = vec![0usize; n as usize];
            for k in &keys {
                let owners: Vec<u64> = (1..=n)
                    .filter(|&i| Shard { index: i, count: n }.contains(k))
                    .collect();
                assert_eq!(owners.len(), 1, "{k} in {owners:?} of {n}");
                sizes[(owners[0] - 1) as usize] += 1;
            }
            let even = keys.len() / n as usize;
            for s in sizes {
                assert!(s.abs_diff(even) < even / 5 + 20, "{n}: {s} vs {even}");
            }
        }
    }
}

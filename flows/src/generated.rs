//! Values made up at replay: ids a page makes up itself (`generate`: a session hash, a UUID, a
//! nonce, a client timestamp), drawn anew for every session in the shape of the recorded one,
//! and encodings of other values (`encode`: a password a page sends base64-encoded).
//!
//! Pure: the caller supplies randomness and the clock, so this crate needs neither.

use serde::{Deserialize, Serialize};

/// A value made up for each session, shaped like `like` (same length and alphabet; a UUID is a
/// new v4 UUID, a client timestamp the session's start time).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Generate {
    /// The value the recording saw.
    pub like: String,
}

/// Another value in an encoding, computed when a session draws its values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Encode {
    /// The text to encode, with `${variables}` (data, secret or generated ones).
    pub value: String,
    #[serde(rename = "as")]
    pub encoding: Encoding,
}

/// How an `encode` value is written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub enum Encoding {
    /// RFC 4648 base64 with padding.
    Base64,
    /// RFC 4648 base64url without padding.
    Base64url,
}

/// The shape a generated value takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A random (version 4) UUID.
    Uuid {
        upper: bool,
    },
    /// The time now in milliseconds (13 digits) or seconds (10 digits) since the Unix epoch.
    EpochMs,
    EpochS,
    /// One character per position: a separator kept as it was, or one drawn from an alphabet.
    Chars(Vec<Slot>),
}

/// One position of a [`Shape::Chars`] value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Keep(char),
    From(&'static str),
}

const DIGITS: &str = "0123456789";
const NONZERO: &str = "123456789";
const HEX_LOWER: &str = "0123456789abcdef";
const HEX_UPPER: &str = "0123456789ABCDEF";
const BASE36_LOWER: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
const BASE36_UPPER: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Longest `like` value a flow may hold.
pub const MAX_GENERATED_LEN: usize = 512;

/// Epoch times a client timestamp may be (2001-09-09 to 2286-11-20 in seconds; the same
/// span in milliseconds).
const EPOCH_S: std::ops::RangeInclusive<u64> = 1_000_000_000..=9_999_999_999;
const EPOCH_MS: std::ops::RangeInclusive<u64> = 1_000_000_000_000..=9_999_999_999_999;

impl Generate {
    /// The shape of values like the recorded one.
    pub fn shape(&self) -> Shape {
        shape_of(&self.like)
    }
}

/// The shape of `sample`: UUIDs and epoch times by their form; otherwise the smallest common
/// alphabet (digits, hex, base36, base62) holding every letter and digit of it, with the other
/// characters (separators) kept where they are.
pub fn shape_of(sample: &str) -> Shape {
    if is_uuid(sample) {
        return Shape::Uuid {
            upper: sample.chars().any(|c| c.is_ascii_uppercase()),
        };
    }
    let all_digits = !sample.is_empty() && sample.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        if let Ok(n) = sample.parse::<u64>() {
            if sample.len() == 13 && EPOCH_MS.contains(&n) {
                return Shape::EpochMs;
            }
            if sample.len() == 10 && EPOCH_S.contains(&n) {
                return Shape::EpochS;
            }
        }
    }
    let alnum = |c: &char| c.is_ascii_alphanumeric();
    let has = |f: fn(&char) -> bool| sample.chars().filter(alnum).any(|c| f(&c));
    let lower = has(|c| c.is_ascii_lowercase());
    let upper = has(|c| c.is_ascii_uppercase());
    let hex_letters = sample
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .all(|c| c.is_ascii_hexdigit());
    let alphabet = match (lower, upper) {
        (false, false) => DIGITS,
        (true, false) if hex_letters => HEX_LOWER,
        (false, true) if hex_letters => HEX_UPPER,
        (true, false) => BASE36_LOWER,
        (false, true) => BASE36_UPPER,
        (true, true) => BASE62,
    };
    let slots = sample
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if !c.is_ascii_alphanumeric() {
                Slot::Keep(c)
            } else if i == 0 && all_digits && c != '0' && sample.len() > 1 {
                // A number keeps its length: no leading zero where the recording had none.
                Slot::From(NONZERO)
            } else {
                Slot::From(alphabet)
            }
        })
        .collect();
    Shape::Chars(slots)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl Shape {
    /// A new value of this shape: `random(n)` returns a number below `n`; `now_ms` is the
    /// time since the Unix epoch.
    pub fn make(&self, now_ms: u64, mut random: impl FnMut(usize) -> usize) -> String {
        let mut pick = |alphabet: &str| {
            let b = alphabet.as_bytes();
            b[random(b.len()) % b.len()] as char
        };
        match self {
            Shape::EpochMs => now_ms.to_string(),
            Shape::EpochS => (now_ms / 1000).to_string(),
            Shape::Uuid { upper } => {
                let hex = if *upper { HEX_UPPER } else { HEX_LOWER };
                let variant = if *upper { "89AB" } else { "89ab" };
                (0..36)
                    .map(|i| match i {
                        8 | 13 | 18 | 23 => '-',
                        14 => '4',
                        19 => pick(variant),
                        _ => pick(hex),
                    })
                    .collect()
            }
            Shape::Chars(slots) => slots
                .iter()
                .map(|s| match s {
                    Slot::Keep(c) => *c,
                    Slot::From(alphabet) => pick(alphabet),
                })
                .collect(),
        }
    }
}

impl Encoding {
    /// `bytes` in this encoding.
    pub fn encode(self, bytes: &[u8]) -> String {
        const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (table, pad) = match self {
            Encoding::Base64 => (STD, true),
            Encoding::Base64url => (URL, false),
        };
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let n = chunk.len();
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= n {
                    out.push(table[((v >> (18 - 6 * i)) & 63) as usize] as char);
                } else if pad {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(sample: &str, seed: usize) -> String {
        let mut n = seed;
        shape_of(sample).make(1_732_300_000_123, |k| {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (n >> 33) % k
        })
    }

    #[test]
    fn generated_values_keep_length_alphabet_and_separators() {
        for (sample, alphabet) in [
            ("a1b2c3d4e5", HEX_LOWER),
            ("k3x9q0zt1m", BASE36_LOWER),
            ("Qx7_Zp9-LmN3aB2c", BASE62),
            ("00417", DIGITS),
            ("9F3A-11C0", HEX_UPPER),
        ] {
            let a = make(sample, 1);
            let b = make(sample, 2);
            assert_ne!(a, b, "{sample}");
            assert_eq!(a.len(), sample.len(), "{sample} -> {a}");
            for (s, g) in sample.chars().zip(a.chars()) {
                if s.is_ascii_alphanumeric() {
                    assert!(alphabet.contains(g), "{sample} -> {a}");
                } else {
                    assert_eq!(s, g, "{sample} -> {a}");
                }
            }
        }
        assert!(!make("41729", 3).starts_with('0'));
    }

    #[test]
    fn uuids_and_client_timestamps_keep_their_meaning() {
        let u = make("0f8fad5b-d9cb-469f-a165-70867728950e", 7);
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        assert!(is_uuid(
            &make("0F8FAD5B-D9CB-469F-A165-70867728950E", 7).to_lowercase()
        ));
        assert_eq!(make("1732299999999", 1), "1732300000123");
        assert_eq!(make("1732299999", 1), "1732300000");
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, std, url) in [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
            (
                "Hunter2-Secret?>",
                "SHVudGVyMi1TZWNyZXQ/Pg==",
                "SHVudGVyMi1TZWNyZXQ_Pg",
            ),
        ] {
            assert_eq!(Encoding::Base64.encode(plain.as_bytes()), std);
            assert_eq!(Encoding::Base64url.encode(plain.as_bytes()), url);
        }
    }
}

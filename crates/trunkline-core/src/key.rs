//! Digit strings packed into a `u64`: digit `d` at position `i` is the
//! nibble `d + 1`, most significant first, zeros after the end. Numeric
//! order of keys is then the lexical order of digit strings, with a
//! prefix right before its extensions, and the keys under a prefix form one
//! contiguous range.

use crate::number::Digits;

/// A packed digit string of at most 16 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub u64);

impl Key {
    pub const EMPTY: Key = Key(0);

    pub fn from_digits(d: &Digits) -> Key {
        let mut k = 0u64;
        for (i, &v) in d.as_slice().iter().enumerate() {
            k |= u64::from(v + 1) << (60 - 4 * i);
        }
        Key(k)
    }

    pub fn to_digits(self) -> Digits {
        let mut d = Digits::EMPTY;
        for i in 0..self.len() {
            d.push(self.digit(i));
        }
        d
    }

    pub fn len(self) -> usize {
        if self.0 == 0 {
            0
        } else {
            16 - self.0.trailing_zeros() as usize / 4
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The digit at `i` (which must be below `len`).
    #[inline]
    pub fn digit(self, i: usize) -> u8 {
        ((self.0 >> (60 - 4 * i)) & 0xf) as u8 - 1
    }

    /// The first `n` digits.
    #[inline]
    pub fn truncate(self, n: usize) -> Key {
        if n >= 16 {
            self
        } else {
            Key(self.0 & !(u64::MAX >> (4 * n)))
        }
    }

    /// The last key that starts with this one: its range is `self..=last`.
    pub fn subtree_end(self) -> Key {
        let n = self.len();
        if n >= 16 {
            self
        } else {
            Key(self.0 | (u64::MAX >> (4 * n)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::from_digits(&Digits::from_ascii(s).unwrap())
    }

    #[test]
    fn order_length_and_ranges() {
        assert!(k("") < k("0") && k("0") < k("00") && k("00") < k("01") && k("09") < k("1"));
        assert!(k("1") < k("10") && k("19") < k("2"));
        assert_eq!(k("5551234").len(), 7);
        assert_eq!(k("").len(), 0);
        let all9 = "9".repeat(16);
        assert_eq!(k(&all9).len(), 16);
        assert_eq!(k(&all9).to_digits().to_string(), all9);
        assert_eq!(k("1555").truncate(2), k("15"));
        assert_eq!(k("1555").truncate(40), k("1555"));
        assert!(k("15") <= k("1599") && k("1599") <= k("15").subtree_end());
        assert!(k("16") > k("15").subtree_end());
        assert_eq!(k("").subtree_end(), Key(u64::MAX));
        assert_eq!(k("304").digit(1), 0);
    }
}

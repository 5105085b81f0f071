//! Blocks and decimal ranges, to the minimal prefix set and back.
//!
//! `+1555123XXXX` is the block of 11-digit numbers under `+1555123`;
//! `+15551230000..+15551234999` is a range of equal-length numbers. A range
//! becomes the fewest prefixes that cover exactly it, the way an IP range
//! becomes CIDRs.

use std::fmt;

use crate::number::{Digits, NumberError, Prefix};
use crate::plan::{PlanId, Plans};

/// An inclusive range of numbers of one plan and one length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub plan: PlanId,
    pub lo: Digits,
    pub hi: Digits,
}

/// What an operator writes for the numbers they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// A plain prefix, any number length.
    Prefix(Prefix),
    /// `prefix` followed by `xs` wildcard digits.
    Pattern {
        prefix: Prefix,
        xs: usize,
    },
    Range(Range),
}

impl Block {
    /// The minimal set of prefixes covering exactly this block, in order.
    pub fn prefixes(&self) -> Vec<Prefix> {
        match self {
            Block::Prefix(p) | Block::Pattern { prefix: p, .. } => vec![*p],
            Block::Range(r) => r.prefixes(),
        }
    }

    /// How many leading digits of a dialed number `{local}` leaves out for
    /// routes of this block, where that is not simply the matched prefix's
    /// length: a range split into several prefixes keeps the digits after
    /// its fixed part (the digits its first and last numbers share), so
    /// `+15551230567` and `+15551234567` of `+15551230000..+15551234999`
    /// give `0567` and `4567`, not `567` for both.
    pub fn local_from(&self) -> Option<usize> {
        let Block::Range(r) = self else { return None };
        let shared =
            r.lo.as_slice()
                .iter()
                .zip(r.hi.as_slice())
                .take_while(|(a, b)| a == b)
                .count();
        match r.prefixes().as_slice() {
            [p] if p.digits.len() == shared => None,
            _ => Some(shared),
        }
    }
}

fn to_u128(d: &Digits) -> u128 {
    d.as_slice()
        .iter()
        .fold(0u128, |acc, &v| acc * 10 + u128::from(v))
}

fn from_u128(mut v: u128, len: usize) -> Digits {
    let mut out = [0u8; crate::plan::MAX_DIGITS];
    for i in (0..len).rev() {
        out[i] = (v % 10) as u8;
        v /= 10;
    }
    Digits::from_values(&out[..len]).expect("len <= MAX_DIGITS")
}

impl Range {
    /// Number of digits of every number in the range.
    pub fn number_len(&self) -> usize {
        self.lo.len()
    }

    /// The fewest prefixes covering exactly `lo..=hi`: greedily take the
    /// largest aligned decimal block that starts at `lo` and fits.
    pub fn prefixes(&self) -> Vec<Prefix> {
        let len = self.number_len();
        let (mut lo, hi) = (to_u128(&self.lo), to_u128(&self.hi));
        let mut out = Vec::new();
        loop {
            let mut k = 0usize;
            let mut size = 1u128;
            while k < len && lo % (size * 10) == 0 && lo + size * 10 - 1 <= hi {
                size *= 10;
                k += 1;
            }
            out.push(Prefix {
                plan: self.plan,
                digits: from_u128(lo / size, len - k),
            });
            if lo + size > hi {
                return out;
            }
            lo += size;
        }
    }

    /// The range a prefix covers among numbers of `len` digits.
    pub fn of_prefix(p: &Prefix, len: usize) -> Range {
        let mut lo = p.digits;
        let mut hi = p.digits;
        while lo.len() < len {
            lo.push(0);
            hi.push(9);
        }
        Range {
            plan: p.plan,
            lo,
            hi,
        }
    }

    /// If the range is exactly one prefix's block, that prefix and its X count.
    pub fn as_pattern(&self) -> Option<(Prefix, usize)> {
        match self.prefixes().as_slice() {
            [p] => Some((*p, self.number_len() - p.digits.len())),
            _ => None,
        }
    }
}

/// Merges prefixes (each no longer than `len`) into the fewest ranges of
/// `len`-digit numbers, in order: the display form of a set of blocks.
pub fn ranges_from_prefixes(prefixes: &[Prefix], len: usize) -> Vec<Range> {
    let mut sorted: Vec<Range> = prefixes
        .iter()
        .filter(|p| p.digits.len() <= len)
        .map(|p| Range::of_prefix(p, len))
        .collect();
    sorted.sort_by_key(|a| (a.plan, a.lo));
    let mut out: Vec<Range> = Vec::new();
    for r in sorted {
        if let Some(last) = out.last_mut()
            && last.plan == r.plan
            && to_u128(&r.lo) <= to_u128(&last.hi) + 1
        {
            if r.hi > last.hi {
                last.hi = r.hi;
            }
            continue;
        }
        out.push(r);
    }
    out
}

impl Plans {
    /// Parses a prefix, a block pattern (`+1555123XXXX`) or a range
    /// (`+15551230000..+15551234999`).
    pub fn parse_block(&self, input: &str) -> Result<Block, NumberError> {
        if let Some((a, b)) = input.split_once("..") {
            let lo = self.parse_number(a)?;
            let hi = self.parse_number(b)?;
            if lo.plan != hi.plan {
                return Err(NumberError::RangePlans {
                    lo: self.name(lo.plan).to_owned(),
                    hi: self.name(hi.plan).to_owned(),
                });
            }
            if lo.digits.len() != hi.digits.len() {
                return Err(NumberError::RangeLengths {
                    lo: lo.digits.len(),
                    hi: hi.digits.len(),
                });
            }
            if lo.digits > hi.digits {
                return Err(NumberError::RangeReversed);
            }
            return Ok(Block::Range(Range {
                plan: lo.plan,
                lo: lo.digits,
                hi: hi.digits,
            }));
        }
        let split = self.split(input)?;
        let (digits, xs) = self.read_digits(&split, true)?;
        if digits.is_empty() && xs == 0 && input.trim() == "+" {
            return Err(NumberError::LonePlus);
        }
        let prefix = Prefix {
            plan: split.plan,
            digits,
        };
        Ok(if xs == 0 {
            Block::Prefix(prefix)
        } else {
            Block::Pattern { prefix, xs }
        })
    }

    /// Display form of a range: a block pattern where it is one, else `lo..hi`.
    pub fn range_str(&self, r: &Range) -> String {
        match r.as_pattern() {
            Some((p, xs)) => format!("{}{}", self.prefix_str(&p), "X".repeat(xs)),
            None => {
                let lo = Prefix {
                    plan: r.plan,
                    digits: r.lo,
                };
                let hi = Prefix {
                    plan: r.plan,
                    digits: r.hi,
                };
                format!("{}..{}", self.prefix_str(&lo), self.prefix_str(&hi))
            }
        }
    }
}

/// Displays a [`Block`] with its plan registry.
#[derive(Debug)]
pub struct BlockDisplay<'a>(pub &'a Plans, pub &'a Block);

impl fmt::Display for BlockDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Block::Prefix(p) => f.write_str(&self.0.prefix_str(p)),
            Block::Pattern { prefix, xs } => {
                write!(f, "{}{}", self.0.prefix_str(prefix), "X".repeat(*xs))
            }
            Block::Range(r) => f.write_str(&self.0.range_str(r)),
        }
    }
}

#[cfg(test)]
mod tests;

//! Prefixes and numbers: parsing, canonical form, display.
//!
//! Written forms: `+15551234567` (E.164), `npstn:5582123` (a private plan),
//! `e164:` or `npstn:` (a plan's default route, the empty prefix). Input may
//! hold spaces, `-`, `.`, `(` and `)` between digits; the canonical form has
//! none. Only ASCII digits are digits: fullwidth or Arabic-Indic digits are
//! refused, never folded.

use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;

use crate::plan::{MAX_DIGITS, PlanId, Plans};

/// Why a prefix or number was refused. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NumberError {
    #[error("empty input")]
    Empty,
    #[error("a lone '+' has no digits (write `e164:` for the default route)")]
    LonePlus,
    #[error("no digits after `{plan}:`")]
    NoDigits { plan: String },
    #[error("start with '+' for an E.164 number or name a plan as `plan:digits`")]
    MissingPlan,
    #[error("unknown number plan {0:?}")]
    UnknownPlan(String),
    #[error("{got} digits is too long for plan {plan} (at most {max})")]
    TooLong { plan: String, max: u8, got: usize },
    #[error("{ch:?} at position {pos} is not an ASCII digit (only 0-9 are accepted)")]
    NonAsciiDigit { ch: char, pos: usize },
    #[error("letter {ch:?} at position {pos}: numbers hold only digits")]
    Letter { ch: char, pos: usize },
    #[error("unexpected character {ch:?} at position {pos}")]
    BadChar { ch: char, pos: usize },
    #[error("'X' at position {pos} must only stand at the end of a block")]
    MisplacedX { pos: usize },
    #[error("a range joins two numbers of the same plan, not {lo} and {hi}")]
    RangePlans { lo: String, hi: String },
    #[error("a range joins two numbers of the same length, not {lo} and {hi} digits")]
    RangeLengths { lo: usize, hi: usize },
    #[error("range start is after its end")]
    RangeReversed,
}

/// A string of 0..=[`MAX_DIGITS`] decimal digits, each stored as 0..=9.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digits {
    len: u8,
    d: [u8; MAX_DIGITS],
}

impl Digits {
    pub const EMPTY: Digits = Digits {
        len: 0,
        d: [0; MAX_DIGITS],
    };

    /// From digit values 0..=9. `None` if a value is over 9 or there are too many.
    pub fn from_values(values: &[u8]) -> Option<Digits> {
        if values.len() > MAX_DIGITS || values.iter().any(|&v| v > 9) {
            return None;
        }
        let mut d = [0; MAX_DIGITS];
        d[..values.len()].copy_from_slice(values);
        Some(Digits {
            len: values.len() as u8,
            d,
        })
    }

    /// From ASCII digits. `None` on anything else or too many.
    pub fn from_ascii(s: &str) -> Option<Digits> {
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        Digits::from_values(&v)
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.d[..self.len as usize]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `n` digits (all of them if `n` is larger).
    pub fn truncate(&self, n: usize) -> Digits {
        let mut t = *self;
        let n = n.min(self.len());
        // Digits past `len` are always zero, so only the dropped ones need clearing.
        t.d[n..self.len()].fill(0);
        t.len = n as u8;
        t
    }

    pub fn push(&mut self, v: u8) -> bool {
        if self.len() >= MAX_DIGITS || v > 9 {
            return false;
        }
        self.d[self.len()] = v;
        self.len += 1;
        true
    }

    pub fn starts_with(&self, other: &Digits) -> bool {
        self.as_slice().starts_with(other.as_slice())
    }
}

impl Ord for Digits {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl PartialOrd for Digits {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of the whole string: every answer prints its number
        // and prefix, and a write per digit was a tenth of a batch's time.
        let mut ascii = [0u8; MAX_DIGITS];
        let n = self.as_slice().len();
        for (a, &v) in ascii.iter_mut().zip(self.as_slice()) {
            *a = b'0' + v;
        }
        f.write_str(std::str::from_utf8(&ascii[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digits({self})")
    }
}

/// A plan plus 0..=max digits. The empty prefix is the plan's default route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    pub plan: PlanId,
    pub digits: Digits,
}

/// A dialed number: a plan plus 1..=max digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number {
    pub plan: PlanId,
    pub digits: Digits,
}

impl Number {
    /// The prefix made of all of this number's digits.
    pub fn as_prefix(&self) -> Prefix {
        Prefix {
            plan: self.plan,
            digits: self.digits,
        }
    }
}

/// The plan and raw digit part of an input, before its digits are read.
pub(crate) struct Split<'a> {
    pub plan: PlanId,
    pub body: &'a str,
    /// Characters before `body`, for error positions.
    pub offset: usize,
}

impl Plans {
    pub(crate) fn split<'a>(&self, input: &'a str) -> Result<Split<'a>, NumberError> {
        let s = input.trim();
        let lead = input.len() - input.trim_start().len();
        let lead_chars = input[..lead].chars().count();
        if s.is_empty() {
            return Err(NumberError::Empty);
        }
        if let Some(body) = s.strip_prefix('+') {
            return Ok(Split {
                plan: PlanId::E164,
                body,
                offset: lead_chars + 1,
            });
        }
        match s.split_once(':') {
            Some((name, body)) => {
                let plan = self
                    .by_name(name.trim())
                    .ok_or_else(|| NumberError::UnknownPlan(name.trim().to_owned()))?;
                Ok(Split {
                    plan,
                    body,
                    offset: lead_chars + name.chars().count() + 1,
                })
            }
            None => Err(NumberError::MissingPlan),
        }
    }

    /// Reads the digits of `body`, skipping separators. With `allow_x`, stops
    /// at the first `X` and returns how many trailing X's follow.
    pub(crate) fn read_digits(
        &self,
        split: &Split<'_>,
        allow_x: bool,
    ) -> Result<(Digits, usize), NumberError> {
        let mut digits = Vec::with_capacity(16);
        let mut xs = 0usize;
        for (i, ch) in split.body.chars().enumerate() {
            let pos = split.offset + i + 1;
            match ch {
                '0'..='9' if xs == 0 => digits.push(ch as u8 - b'0'),
                '0'..='9' => return Err(NumberError::MisplacedX { pos: pos - 1 }),
                ' ' | '-' | '.' | '(' | ')' => {}
                'x' | 'X' if allow_x => xs += 1,
                c if c.is_numeric() => return Err(NumberError::NonAsciiDigit { ch: c, pos }),
                c if c.is_alphabetic() => return Err(NumberError::Letter { ch: c, pos }),
                c => return Err(NumberError::BadChar { ch: c, pos }),
            }
        }
        let plan = self.get(split.plan).expect("split returns known plans");
        let total = digits.len() + xs;
        if total > plan.max_digits as usize {
            return Err(NumberError::TooLong {
                plan: plan.name.clone(),
                max: plan.max_digits,
                got: total,
            });
        }
        Ok((
            Digits::from_values(&digits).expect("checked against max_digits"),
            xs,
        ))
    }

    /// Parses a prefix: `+1555123`, `npstn:5582`, `e164:` (default route).
    pub fn parse_prefix(&self, input: &str) -> Result<Prefix, NumberError> {
        let split = self.split(input)?;
        let (digits, _) = self.read_digits(&split, false)?;
        if digits.is_empty() && split.plan == PlanId::E164 && input.trim() == "+" {
            return Err(NumberError::LonePlus);
        }
        Ok(Prefix {
            plan: split.plan,
            digits,
        })
    }

    /// Parses a dialed number: at least one digit.
    pub fn parse_number(&self, input: &str) -> Result<Number, NumberError> {
        let split = self.split(input)?;
        let (digits, _) = self.read_digits(&split, false)?;
        if digits.is_empty() {
            return Err(
                if split.plan == PlanId::E164 && input.trim().starts_with('+') {
                    NumberError::LonePlus
                } else {
                    NumberError::NoDigits {
                        plan: self.name(split.plan).to_owned(),
                    }
                },
            );
        }
        Ok(Number {
            plan: split.plan,
            digits,
        })
    }

    /// Canonical text of a prefix: `+1555123`, `npstn:5582`, `e164:`.
    pub fn prefix_str(&self, p: &Prefix) -> String {
        if p.plan == PlanId::E164 && !p.digits.is_empty() {
            format!("+{}", p.digits)
        } else {
            format!("{}:{}", self.name(p.plan), p.digits)
        }
    }

    /// Canonical text of a number: `+15551234567`, `npstn:5582123`.
    pub fn number_str(&self, n: &Number) -> String {
        self.prefix_str(&n.as_prefix())
    }
}

#[cfg(test)]
mod tests;

//! A small binary codec for log entries and snapshots: LEB128 varints and
//! length-prefixed bytes. Every read is bounds-checked; bad input is an
//! error, never a panic.

use thiserror::Error;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("input ends early")]
    Truncated,
    #[error("varint is too long")]
    Varint,
    #[error("bad {what} tag {tag}")]
    Tag { what: &'static str, tag: u64 },
    #[error("unsupported format version {0}")]
    Version(u64),
    #[error("text is not UTF-8")]
    Utf8,
    #[error("{0}")]
    Invalid(String),
    #[error("{0} bytes left over")]
    Trailing(usize),
}

/// Appends encoded values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// Reads values back from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = rest;
        Ok(b)
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Varint)
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::Invalid("value exceeds u32".into()))
    }

    /// A length or count, refused if it could not possibly fit in the rest
    /// of the input (each item takes at least `min_item` bytes).
    pub fn len(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        if n.saturating_mul(min_item.max(1) as u64) > self.buf.len() as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.len(1)?;
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(b)
    }

    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::Utf8)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}

/// Bytes from a hex fixture (tests of older encodings).
#[cfg(test)]
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let mut w = Writer::default();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            w.varint(v);
        }
        w.str("sip:{e164}@pbx");
        let mut r = Reader::new(&w.buf);
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.varint().unwrap(), v);
        }
        assert_eq!(r.str().unwrap(), "sip:{e164}@pbx");
        r.finish().unwrap();

        assert_eq!(Reader::new(&[0x80]).varint(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(DecodeError::Varint));
        assert_eq!(Reader::new(&[5, b'a']).bytes(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[1, 0xff]).str(), Err(DecodeError::Utf8));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0x0f]).len(8),
            Err(DecodeError::Truncated)
        );
    }
}

//! Wire codecs for the TLS 1.3 handshake messages RFC 9261 uses.
//!
//! Sans-IO and allocation-bounded: every length prefix is checked against
//! the bytes actually present before anything is allocated, and a
//! malformed input yields a [`DecodeError`] naming the field.

mod handshake;

pub use handshake::*;

/// Why bytes could not be decoded; names the field at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("malformed {field}: {problem}")]
pub struct DecodeError {
    /// The field (e.g. `CertificateEntry.extensions`).
    pub field: &'static str,
    /// What was wrong with it.
    pub problem: Problem,
}

/// The kind of decoding failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Fewer bytes than the field needs.
    #[error("needs {need} bytes but only {have} remain")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// Length outside the range the structure allows.
    #[error("length {len} outside the allowed range {min}..={max}")]
    LengthOutOfRange {
        /// The length found.
        len: usize,
        /// Minimum allowed.
        min: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// Bytes left over after the structure.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
    /// A value that is not allowed here.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn err(field: &'static str, problem: Problem) -> DecodeError {
    DecodeError { field, problem }
}

/// A cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(err(
                field,
                Problem::Truncated {
                    need: n,
                    have: self.remaining(),
                },
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a u8.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian u24.
    pub fn u24(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let b = self.take(3, field)?;
        Ok(((b[0] as usize) << 16) | ((b[1] as usize) << 8) | b[2] as usize)
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a vector with a `prefix_len`-byte length prefix (1, 2 or 3)
    /// whose length must lie in `min..=max`.
    pub fn vec(
        &mut self,
        prefix_len: usize,
        min: usize,
        max: usize,
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        let len = match prefix_len {
            1 => self.u8(field)? as usize,
            2 => self.u16(field)? as usize,
            3 => self.u24(field)?,
            _ => unreachable!("length prefixes are 1, 2 or 3 bytes"),
        };
        if len < min || len > max {
            return Err(err(field, Problem::LengthOutOfRange { len, min, max }));
        }
        self.take(len, field)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, field: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(err(field, Problem::Trailing(n))),
        }
    }
}

/// Appends TLS-style encodings to a buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    /// The encoded bytes.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a u8.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a big-endian u24.
    pub fn u24(&mut self, v: usize) {
        assert!(v < 1 << 24, "u24 overflow");
        self.buf.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends a vector with a `prefix_len`-byte length prefix.
    ///
    /// Panics if `b` does not fit the prefix: encoders check sizes first
    /// (see [`crate::ea::EaError::TooLarge`]).
    pub fn vec(&mut self, prefix_len: usize, b: &[u8]) {
        self.nested(prefix_len, |w| w.bytes(b));
    }

    /// Appends a length-prefixed structure written by `f`.
    pub fn nested(&mut self, prefix_len: usize, f: impl FnOnce(&mut Writer)) {
        let start = self.buf.len();
        self.buf.extend(std::iter::repeat_n(0, prefix_len));
        f(self);
        let len = self.buf.len() - start - prefix_len;
        assert!(
            len < 1usize << (8 * prefix_len),
            "length does not fit its {prefix_len}-byte prefix"
        );
        for i in 0..prefix_len {
            self.buf[start + i] = (len >> (8 * (prefix_len - 1 - i))) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_checks_lengths_before_taking() {
        let mut r = Reader::new(&[0x00, 0x05, 1, 2]);
        let e = r.vec(2, 0, 100, "x").unwrap_err();
        assert_eq!(e, err("x", Problem::Truncated { need: 5, have: 2 }));
        let mut r = Reader::new(&[0x03, 1, 2, 3]);
        assert!(matches!(
            r.vec(1, 4, 10, "y").unwrap_err().problem,
            Problem::LengthOutOfRange { .. }
        ));
    }

    #[test]
    fn writer_nests_prefixes() {
        let mut w = Writer::new();
        w.nested(3, |w| w.vec(2, &[9, 9]));
        assert_eq!(w.buf, vec![0, 0, 4, 0, 2, 9, 9]);
    }
}

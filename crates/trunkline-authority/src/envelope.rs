//! Signed statements as they travel and are kept: the exact bytes that
//! were signed, never re-serialized. The signature is Ed25519 over the
//! DSSE pre-authentication encoding of the payload type and payload, so a
//! payload cannot be read as another kind; it is checked with
//! `verify_strict` (no weak keys, no malleable signatures).
//!
//! Layout: `TLA1`, kind (1 byte), signer public key (32), signature (64),
//! payload length (2), payload.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::codec::{DecodeError, Reader, Writer, invalid};
use crate::object::{KeyId, Kind, Statement, StatementId};

const MAGIC: &[u8; 4] = b"TLA1";
/// Largest envelope accepted, checked before anything is decoded.
pub const MAX_ENVELOPE: usize = 16 << 10;

/// Why an envelope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("{0} bytes; at most {MAX_ENVELOPE}")]
    TooLarge(usize),
    #[error("not a signed statement: {0}")]
    Decode(#[from] DecodeError),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the signer's key is not a valid Ed25519 key")]
    BadKey,
}

/// The DSSE pre-authentication encoding.
fn pae(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let t = kind.payload_type();
    let mut out = format!("DSSEv1 {} {t} {} ", t.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

pub fn key_id(public: &[u8; 32]) -> KeyId {
    Sha256::digest(public).into()
}

/// A statement whose signature verified, with the bytes it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub statement: Statement,
    /// The signer's public key.
    pub signer: [u8; 32],
    pub id: StatementId,
    /// The envelope, exactly as signed and received.
    pub bytes: Vec<u8>,
}

impl Signed {
    /// Signs `statement` with `key`.
    pub fn sign(statement: Statement, key: &SigningKey) -> Result<Signed, String> {
        let payload = statement.encode()?;
        let kind = statement.kind();
        let signature = key.sign(&pae(kind, &payload));
        let signer = key.verifying_key().to_bytes();
        let mut w = Writer::default();
        w.bytes(MAGIC);
        w.u8(kind.code());
        w.bytes(&signer);
        w.bytes(&signature.to_bytes());
        w.u16(u16::try_from(payload.len()).map_err(|_| "the statement is too large")?);
        w.bytes(&payload);
        if w.buf.len() > MAX_ENVELOPE {
            return Err(format!("{} bytes; at most {MAX_ENVELOPE}", w.buf.len()));
        }
        Ok(Signed {
            id: statement_id(kind, &payload, &signer),
            statement,
            signer,
            bytes: w.buf,
        })
    }

    /// Decodes and verifies an envelope. Nothing that fails is kept.
    pub fn verify(bytes: &[u8]) -> Result<Signed, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        if r.take(4)? != MAGIC {
            return Err(invalid("no TLA1 magic").into());
        }
        let kind = Kind::from_code(r.u8()?)?;
        let signer: [u8; 32] = r.array()?;
        let signature = Signature::from_bytes(&r.array()?);
        let n = r.u16()? as usize;
        let payload = r.take(n)?;
        r.finish()?;
        let key = VerifyingKey::from_bytes(&signer).map_err(|_| EnvelopeError::BadKey)?;
        key.verify_strict(&pae(kind, payload), &signature)
            .map_err(|_| EnvelopeError::BadSignature)?;
        let statement = Statement::decode(kind, payload)?;
        Ok(Signed {
            id: statement_id(kind, payload, &signer),
            statement,
            signer,
            bytes: bytes.to_vec(),
        })
    }

    pub fn signer_id(&self) -> KeyId {
        key_id(&self.signer)
    }
}

fn statement_id(kind: Kind, payload: &[u8], signer: &[u8; 32]) -> StatementId {
    let mut h = Sha256::new();
    h.update(pae(kind, payload));
    h.update(signer);
    h.finalize().into()
}

/// Lower-case hex, for ids and keys in text.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower- or upper-case hex of exactly `N` bytes.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

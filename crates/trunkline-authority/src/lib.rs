//! Who may announce a number: an RPKI for telephone numbers, simple
//! enough for a club to run (DESIGN section 7).
//!
//! - [`object`]: the statements (delegation, authorisation, revocation
//!   list) and their canonical payloads;
//! - [`envelope`]: signed bytes, Ed25519 with `verify_strict`;
//! - [`set`]: the statements a federation holds, and which count at a
//!   given time, chained to its trust anchors;
//! - [`validate`]: RFC 6811 origin validation over decimal prefixes.
//!
//! Pure, like the other logic crates: no clock (time is an argument), no
//! sockets, no randomness (keys come from the caller).

pub mod codec;
pub mod envelope;
pub mod exchange;
pub mod object;
pub mod set;
pub mod text;
pub mod validate;

pub use envelope::{EnvelopeError, Signed};
pub use object::{Authorisation, Delegation, Entry, Kind, Revocations, Statement, StatementId};
pub use set::{Anchor, Authority, Effective, Status};
pub use validate::{Index, Mismatch, Validation};

#[cfg(test)]
mod tests;

//! Authority objects. Envelopes: decoding and verifying arbitrary bytes
//! never panics, and one that verifies verifies again to the same id.
//! Statements: a payload that decodes is canonical (it encodes back to the
//! same bytes), and signed by a key the set trusts it is judged at any
//! time without a panic.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use trunkline_authority::{Anchor, Authority, Kind, Signed, Statement};

const KINDS: [Kind; 3] = [Kind::Delegation, Kind::Authorisation, Kind::Revocations];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let now = u64::from(mode) << 24;
    if mode & 1 == 0 {
        let Ok(signed) = Signed::verify(bytes) else {
            return;
        };
        let again = Signed::verify(&signed.bytes).expect("verifies twice");
        assert_eq!(again.id, signed.id);
        judge(signed.signer, signed, now);
        return;
    }
    let kind = KINDS[usize::from(mode >> 1) % 3];
    let Ok(statement) = Statement::decode(kind, bytes) else {
        return;
    };
    assert_eq!(statement.kind(), kind);
    let canonical = statement.encode().expect("a decoded statement encodes");
    assert_eq!(canonical, bytes, "two encodings of one statement");
    let key = SigningKey::from_bytes(&[7; 32]);
    let signed = Signed::sign(statement, &key).expect("a decoded statement signs");
    let back = Signed::verify(&signed.bytes).expect("a signed statement verifies");
    assert_eq!(back, signed);
    judge(key.verifying_key().to_bytes(), signed, now);
});

/// A set trusting `anchor`, holding `signed`, judged at `now`.
fn judge(anchor: [u8; 32], signed: Signed, now: u64) {
    let anchor = Anchor {
        plan: "e164".into(),
        name: "fuzz".into(),
        key: anchor,
        max_depth: 2,
    };
    let mut set = Authority::new(vec![anchor], 3600);
    set.keep(signed);
    let _ = set.effective(now);
}

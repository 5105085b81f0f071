//! The raft log entry and snapshot codecs: arbitrary bytes decode or are
//! refused; a batch that decodes encodes and decodes to the same batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunkline_cluster::StateMachine;
use trunkline_cluster::command::{decode_batch, encode_batch};
use trunkline_core::Plans;
use trunkline_core::table::AttrsInterner;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let plans = Plans::with_private([("npstn", 7)]).unwrap();
    if which & 1 == 0 {
        let Ok(batch) = decode_batch(bytes, &plans, &mut AttrsInterner::default()) else {
            return;
        };
        let wire = encode_batch(&batch, &plans);
        let again = decode_batch(&wire, &plans, &mut AttrsInterner::default())
            .expect("an encoded batch decodes");
        assert_eq!(again, batch);
    } else {
        let mut sm = StateMachine::new(plans.clone());
        if sm.restore(bytes).is_ok() {
            // What restored snapshots again, the same.
            let snap = sm.snapshot();
            let mut other = StateMachine::new(plans);
            other.restore(&snap).expect("a snapshot restores");
            assert_eq!(other.snapshot(), snap);
        }
    }
});

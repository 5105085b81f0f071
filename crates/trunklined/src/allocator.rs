//! The daemon's allocator: mimalloc, set to give freed memory back to the
//! system.
//!
//! With glibc's malloc the node stays as large as its largest moment: a
//! merge of the route table holds the old index and the new one at once,
//! and glibc returns only the top of its heap, so at 1,000,000 routes the
//! node kept 208 bytes a route resident for 120 live. mimalloc returns
//! freed pages, if told to: its default waits a second and then purges
//! only when the thread allocates again (an idle node never does), and
//! transparent huge pages keep whole 2 MiB pages resident for a few live
//! bytes. With a 10 ms purge delay and no huge pages resident memory
//! follows what the node holds: 101-107 bytes a route where glibc's malloc
//! kept 173-187, on the same code (`trunkline-bench node`).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options, as its environment variables; an operator's own
/// setting of one wins.
const OPTIONS: [(&str, &str); 2] = [("MIMALLOC_PURGE_DELAY", "10"), ("MIMALLOC_ALLOW_THP", "0")];

/// mimalloc reads its options from the environment once, as the process
/// starts, and has no other way to set them without unsafe code. So when
/// one is missing, the daemon becomes itself again with them set (`exec`:
/// same process id, nothing runs twice). Returns only when they are set,
/// or when the program cannot be found again (then it runs as it is).
pub fn configure() {
    if cfg!(feature = "system-allocator") {
        return;
    }
    let missing: Vec<(&str, &str)> = OPTIONS
        .into_iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let error = std::process::Command::new(exe)
        .args(args)
        .envs(missing)
        .exec();
    eprintln!(
        "trunklined: could not restart with mimalloc's options set ({error}); running without them"
    );
}

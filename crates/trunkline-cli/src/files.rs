//! Files the CLI writes for people to keep (keys, certificates, signed
//! statements): never over an existing one, since a key overwritten by
//! mistake cannot be had back; secrets with mode 0600.

use std::path::Path;

use crate::{Failure, Result};

pub fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::input(format!(
                "{}: exists already; not replacing it",
                path.display()
            ))
        } else {
            Failure {
                code: 1,
                message: format!("{}: {e}", path.display()),
            }
        }
    })?;
    f.write_all(bytes).map_err(|e| Failure {
        code: 1,
        message: format!("{}: {e}", path.display()),
    })
}

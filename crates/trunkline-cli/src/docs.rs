//! Shell completions and man pages, generated from the command's own
//! definition so that they cannot disagree with it.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::{Failure, Result};

/// The completion script for `shell`, on stdout.
pub fn completions(shell: Shell) {
    let mut cmd = crate::Args::command();
    clap_complete::generate(shell, &mut cmd, "trunkline", &mut std::io::stdout());
}

/// `trunkline.1` and a page per subcommand (`trunkline-neighbor-list.1`,
/// as git names its own), written into `dir`.
pub fn man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(crate::Args::command(), dir))
        .map_err(|e| Failure::input(format!("man pages into {}: {e}", dir.display())))?;
    say!("wrote man pages into {}", dir.display());
    Ok(())
}

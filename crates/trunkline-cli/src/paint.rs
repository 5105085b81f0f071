//! Colour on a terminal only: never into a pipe or a file, never with
//! `NO_COLOR` set (no-color.org), and on a pipe too with `CLICOLOR_FORCE`,
//! as clap's own help and most command lines do.

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
pub enum Tint {
    Good,
    Warn,
    Bad,
}

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return false;
        }
        set("CLICOLOR_FORCE")
            || (std::io::stdout().is_terminal()
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb"))
    })
}

/// `text` in `tint`, when colour is on.
pub fn paint(text: String, tint: Tint) -> String {
    if !enabled() {
        return text;
    }
    let code = match tint {
        Tint::Good => "32",
        Tint::Warn => "33",
        Tint::Bad => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Columns `s` takes on screen: colour codes take none.
pub fn width(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, ended by a letter.
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_codes_take_no_width() {
        assert_eq!(super::width("\x1b[32mestablished\x1b[0m"), 11);
        assert_eq!(super::width("idle"), 4);
    }
}

//! The config file: any text loads or is refused with an error; nothing
//! panics, and what loads is checked (its routes are in its plans).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trunklined::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(loaded) = Config::from_toml(text) {
        for (prefix, _) in &loaded.routes {
            let text = loaded.plans.prefix_str(prefix);
            assert_eq!(loaded.plans.parse_prefix(&text).as_ref(), Ok(prefix));
        }
    }
});

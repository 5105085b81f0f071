//! Leaf helpers every config section and the API share: field errors, node
//! addresses, large communities, the attributes of a locally originated
//! route. Imports nothing of the daemon.

use std::path::PathBuf;

use thiserror::Error;
use trunkline_core::route::DEFAULT_LOCAL_PREF;
use trunkline_core::{Attrs, LargeCommunity, NextHop, Source, Validation};

/// A config file or section that cannot be used, naming the field.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// The error for `field`.
pub fn invalid(field: impl Into<String>, message: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.to_string(),
    }
}

/// A node address: `http://host:port` (or `https://`).
pub fn check_addr(addr: &str) -> Result<(), String> {
    let rest = addr
        .strip_prefix("http://")
        .or_else(|| addr.strip_prefix("https://"))
        .ok_or_else(|| format!("{addr:?} must start with http:// or https://"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?} needs a port"))?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("{addr:?} is not host:port"));
    }
    Ok(())
}

/// Priority of a next hop given without one.
pub fn default_priority() -> u32 {
    10
}
/// Weight of a next hop given without one.
pub fn default_weight() -> u32 {
    100
}

/// Parses `global:local1:local2`.
pub fn parse_community(s: &str) -> Result<LargeCommunity, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(format!("{s:?} is not global:local1:local2"));
    };
    let n = |x: &str| {
        x.trim()
            .parse::<u32>()
            .map_err(|_| format!("{s:?}: {x:?} is not a u32"))
    };
    Ok(LargeCommunity(n(a)?, n(b)?, n(c)?))
}

/// What is wrong with a locally originated route, and in which field.
#[derive(Debug, Error)]
pub enum RouteError {
    /// A next hop given as `via` or in `next_hops`, or their number.
    #[error("{1}")]
    NextHop(&'static str, trunkline_core::route::NextHopError),
    #[error("{0}")]
    Community(String),
}

impl RouteError {
    /// The field the error is about: `via`, `next_hops` or `communities`.
    pub fn field(&self) -> &'static str {
        match self {
            RouteError::NextHop(field, _) => field,
            RouteError::Community(_) => "communities",
        }
    }
}

/// Builds the attributes of a locally originated route, from `via`
/// shorthands and explicit next hops. Errors name the offending field.
pub fn local_attrs<'a>(
    source: Source,
    via: &[String],
    next_hops: impl Iterator<Item = (&'a str, u32, u32)>,
    local_pref: Option<u32>,
    med: u32,
    communities: &[String],
) -> Result<Attrs, RouteError> {
    use trunkline_core::route::NextHopError;
    let mut hops = Vec::new();
    for uri in via {
        hops.push(
            NextHop::new(uri, default_priority(), default_weight())
                .map_err(|e| RouteError::NextHop("via", e))?,
        );
    }
    for (uri, p, w) in next_hops {
        hops.push(NextHop::new(uri, p, w).map_err(|e| RouteError::NextHop("next_hops", e))?);
    }
    if hops.is_empty() {
        return Err(RouteError::NextHop("next_hops", NextHopError::None));
    }
    if hops.len() > trunkline_core::route::MAX_NEXT_HOPS {
        return Err(RouteError::NextHop(
            "next_hops",
            NextHopError::TooMany(hops.len()),
        ));
    }
    trunkline_core::route::order_next_hops(&mut hops);
    let mut seen = std::collections::HashSet::new();
    hops.retain(|h| seen.insert(h.uri.clone()));
    let mut communities = communities
        .iter()
        .map(|c| parse_community(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(RouteError::Community)?;
    communities.sort();
    communities.dedup();
    Ok(Attrs {
        source,
        next_hops: hops,
        path: Vec::new(),
        local_pref: local_pref.unwrap_or(DEFAULT_LOCAL_PREF),
        med,
        communities,
        validation: Validation::NotFound,
        reject_not_found: false,
        local_from: None,
    })
}

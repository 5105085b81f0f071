//! Trunkline's pure core: number plans, prefixes and numbers, blocks and
//! ranges, routes, the lookup index and route selection.
//!
//! No I/O, no clock, no randomness: everything here is a function of its
//! inputs, so every node of a cluster computes the same table from the same
//! log.
//!
//! Layout:
//! - [`plan`]: `e164` and private plans.
//! - [`number`]: parsing and canonical form of prefixes and numbers.
//! - [`block`]: block patterns and decimal ranges to prefixes and back.
//! - [`key`]: digit strings packed for ordered maps.
//! - [`index`]: the compiled longest-prefix-match index.
//! - [`route`]: next hops, attributes, sources.
//! - [`select`]: route selection and `explain`.
//! - [`table`]: the route table: index plus recent changes, snapshots for readers.

pub mod block;
pub mod index;
pub mod key;
pub mod number;
pub mod plan;
pub mod route;
pub mod select;
pub mod table;

pub use block::{Block, Range};
pub use number::{Digits, Number, NumberError, Prefix};
pub use plan::{PlanId, Plans};
pub use route::{Attrs, Itad, LargeCommunity, NextHop, Route, Source, Validation};
pub use table::{Match, RouteSet, RouteTable};

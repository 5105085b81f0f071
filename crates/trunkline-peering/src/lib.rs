//! Peering between Trunkline clusters and PBX nodes, without I/O or clocks:
//! the session state machine ([`session`]) and the rules that decide what
//! is accepted from and sent to each peer ([`policy`]). The daemon drives
//! both with real streams and time; tests drive them with fixtures.

pub mod message;
pub mod policy;
pub mod session;

pub use message::{Capabilities, Code, Message, Notification, Open};
pub use session::{Config, Down, Input, Millis, Negotiated, Output, Session, State};

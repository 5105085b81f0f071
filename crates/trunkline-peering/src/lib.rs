//! Peering between Trunkline clusters and PBX nodes, without I/O or clocks:
//! the session state machine ([`session`]), the rules that decide what is
//! accepted from and sent to each peer ([`policy`]), what a session has
//! sent ([`adj_out`]), when it sends what changed ([`pacing`]), and the two
//! together as a session's sending side ([`exporter`]). The
//! daemon drives them with real streams and time; tests and the simulator
//! drive them with fixtures and virtual time.

pub mod adj_out;
pub mod exporter;
pub mod message;
pub mod pacing;
pub mod policy;
pub mod session;

pub use message::{Capabilities, Code, Message, Notification, Open};
pub use session::{Config, Down, Input, Millis, Negotiated, Output, Session, State};

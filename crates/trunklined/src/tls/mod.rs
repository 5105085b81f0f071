//! TLS on the node's three channels (public API, peering, node to node),
//! with rustls. Certificates, keys and CAs are PEM files named in the
//! config; they are read again on SIGHUP and when they change, and new
//! connections use what was read last. Who is on the other end is the
//! `trunkline:` URI in the certificate's subject alternative names (what
//! `trunkline pki issue` writes), never a host name a proxy could fake.

pub mod client;
mod files;
mod identity;
mod node;
pub mod server;

pub use files::{TlsSection, load_chain};
pub use identity::Identity;
pub use node::NodeTls;

//! Front ends that let PBXes ask without new modules (DESIGN §6), all
//! answered from the same lookup as the gRPC API.
//!
//! - [`http_lookup`]: `GET /v1/lookup/{number}`, JSON or an Asterisk dial
//!   string.
//! - [`dial`]: dial strings from next-hop URIs.
//! - [`enum_dns`]: ENUM NAPTR answers over DNS (UDP and TCP).
//! - [`sip`]: a SIP redirect server (UDP and TCP).

pub mod dial;
pub mod enum_dns;
pub mod http_lookup;
pub mod sip;

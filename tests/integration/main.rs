//! Integration tests: real `trunklined` processes, real sockets, the real
//! `trunkline` CLI. One binary, one shared harness.

mod certs;
mod harness;

mod auth;
mod authority;
mod authority_exchange;
mod bad_input;
mod cli;
mod cli_docs;
mod cluster;
mod cluster_growth;
mod config;
mod dashboards;
mod demo;
mod deploy;
mod durability;
mod faults;
mod frontend_dns;
mod frontend_http;
mod frontend_sip;
mod http;
mod invite;
mod looking_glass;
mod operations;
mod package;
mod pbx_kamailio;
mod peer_input;
mod peering;
mod peering_defaults;
mod pki;
mod proxy;
mod python_client;
mod resolver;
mod sipp;
mod standard_grpc;
mod tls;
mod watch;

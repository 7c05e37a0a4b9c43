//! Webhooks (issue 18): what Locksmith sends to the endpoints that subscribe to its
//! events. So far the signature scheme and the rule for where a delivery may go;
//! subscriptions and durable delivery build on the event log ([`crate::events`]).

pub mod destination;
pub mod signature;

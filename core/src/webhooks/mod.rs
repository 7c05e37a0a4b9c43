//! Webhooks (issue 18): what Locksmith sends to the endpoints that subscribe to its
//! events. So far the signature scheme, the rule for where a delivery may go and the
//! retry schedule; subscriptions and durable delivery build on the event log
//! ([`crate::events`]).

pub mod destination;
pub mod schedule;
pub mod signature;

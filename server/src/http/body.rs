//! The size limit of request bodies, shared by the router's layers and the API's own
//! body reader.

/// Request bodies above this are refused with 413 (the contract's limit for `/v1`).
pub const BODY_LIMIT: usize = 64 * 1024;

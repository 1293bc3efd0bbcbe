//! Content hashing.

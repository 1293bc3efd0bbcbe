//! The access-summary format shared by all tracer backends (see README.md).

//! The ptrace backend.

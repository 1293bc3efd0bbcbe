//! Decoding a `waitpid` status the way every backend reports it.

/// `(exit code, terminating signal)` for a process that has ended: a normal
/// exit gives `(code, None)`, death by signal N gives `(128 + N, Some(N))`
/// like a shell does. `None` for a status that is not an end (a stop).
pub fn exit_status(wait_status: i32) -> Option<(i32, Option<i32>)> {
    if libc::WIFEXITED(wait_status) {
        Some((libc::WEXITSTATUS(wait_status), None))
    } else if libc::WIFSIGNALED(wait_status) {
        let sig = libc::WTERMSIG(wait_status);
        Some((128 + sig, Some(sig)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::exit_status;

    #[test]
    fn exits_signals_and_stops() {
        assert_eq!(exit_status(3 << 8), Some((3, None)));
        assert_eq!(exit_status(libc::SIGKILL), Some((137, Some(libc::SIGKILL))));
        assert_eq!(exit_status((libc::SIGSTOP << 8) | 0x7f), None);
    }
}

"""The transfer progress bar: on a terminal only (a real pty here), and only after a second."""

from __future__ import annotations

import io
import os
import pty
import time

from roar.transfer.progress import StderrBar


def test_bar_draws_on_a_terminal_only_after_a_second() -> None:
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            bar = StderrBar("get", tty)
            bar.start(1000, 1)
            bar.advance(100)  # under a second: nothing drawn
            tty.flush()
            os.set_blocking(master, False)
            try:
                early = os.read(master, 1024)
            except BlockingIOError:
                early = b""
            time.sleep(StderrBar.DELAY + 0.05)
            bar.advance(400)
            bar.finish()
        drawn = os.read(master, 4096).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert early == b""
    assert "get [" in drawn and "50%" in drawn


def test_no_bar_without_a_terminal() -> None:
    out = io.StringIO()
    bar = StderrBar("put", out)
    bar.start(10, 1)
    bar.started -= 5  # long past the delay
    bar.advance(10)
    bar.finish()
    assert out.getvalue() == ""


def test_gs_urls_are_served_by_gcsfs() -> None:
    import fsspec
    import gcsfs

    assert fsspec.get_filesystem_class("gs") is gcsfs.GCSFileSystem

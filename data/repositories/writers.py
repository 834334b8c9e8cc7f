"""Who is writing: the host and process of a multi-step write, so another process can tell a dead writer at once.

A save of a run or a batch of order POSTs is several writes; if its process dies in between, what it left must be
recognised as abandoned. A lease (a deadline the writer renews) covers every case; the host and pid recorded with
it let a process on the same host see a dead writer immediately (``os.kill(pid, 0)``) instead of waiting it out.
"""

from __future__ import annotations

import os
import socket
from typing import Any


def current_writer() -> dict[str, Any]:
    """This process as a writer: ``{"host", "pid"}``."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def writer_gone(host: Any, pid: Any) -> bool:
    """True when the writer ran on this host and its process no longer exists (this process is never gone).

    A writer on another host, or one not recorded, is not known to be gone: the caller's lease decides.
    """
    if host != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    return False


__all__ = ["current_writer", "writer_gone"]

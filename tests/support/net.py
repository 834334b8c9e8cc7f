"""Network helpers for tests that start servers: free loopback ports and health polling."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (closed again before returning, so a server can bind it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ok(url: str, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Poll ``url`` until it answers HTTP 200, or raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (OSError, urllib.error.URLError) as err:
            last = err
        time.sleep(interval)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s (last: {last})")

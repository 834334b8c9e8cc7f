"""A MongoDB wire-protocol server backed by mongoeco on a SQLite file (storage.md §2).

Run ``python tests/support/mongoeco_server.py PORT FILE.sqlite3`` (port 0 picks a free port). It prints
``READY mongodb://127.0.0.1:PORT/?directConnection=true`` once it accepts connections and stops cleanly on
SIGTERM or SIGINT. The test fixture starts it once per session; developers can poke it with any MongoDB client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


async def serve(port: int, path: str) -> None:
    """Serve ``path`` on 127.0.0.1:``port`` until SIGTERM/SIGINT."""
    from mongoeco.engines import SQLiteEngine
    from mongoeco.wire import AsyncMongoEcoProxyServer

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    server = AsyncMongoEcoProxyServer(engine=SQLiteEngine(path), host="127.0.0.1", port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    address = await server.start()
    print(f"READY {address.uri}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


@contextlib.contextmanager
def running_server(path: str | Path, port: int = 0, timeout: float = 60.0) -> Iterator[str]:
    """Start this script in a subprocess, yield its ``mongodb://`` URI once READY, stop it with SIGTERM."""
    log = open(f"{path}.server.log", "wb")  # noqa: SIM115  (closed in the finally below)
    proc = subprocess.Popen(
        [sys.executable, __file__, str(port), str(path)], stdout=subprocess.PIPE, stderr=log, text=True
    )
    try:
        yield _await_ready(proc, timeout, f"{path}.server.log")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        log.close()


def _await_ready(proc: subprocess.Popen[str], timeout: float, log_path: str) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mongoeco wire server exited with {proc.returncode}: {Path(log_path).read_text()}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("READY "):
                return line.split(" ", 1)[1].strip()
    raise RuntimeError(f"mongoeco wire server not ready after {timeout} s")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: mongoeco_server.py PORT FILE.sqlite3", file=sys.stderr)
        return 2
    asyncio.run(serve(int(argv[1]), argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Serve the five simulated services on loopback ports (one uvicorn server each, one event loop, shared state)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

import uvicorn

from data.simulator.app import SimulatorApp
from data.simulator.config import SERVICES


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (five servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: a free port chosen by the OS)."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP, and without it
    # Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


async def serve(app: SimulatorApp, ports: Mapping[str, int], host: str = "127.0.0.1", out: TextIO = sys.stdout) -> None:
    """Bind every service, print ``<name> <base URL>`` lines (flushed), then serve until SIGINT/SIGTERM."""
    sockets = {name: bind(host, ports.get(name, 0)) for name in SERVICES}
    servers = []
    for name in SERVICES:
        config = uvicorn.Config(
            app.services[name],
            http="h11",
            lifespan="off",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
            backlog=512,
        )
        servers.append(_Server(config))
    for name in SERVICES:
        port = sockets[name].getsockname()[1]
        out.write(f"{name} http://{host}:{port}\n")
    out.flush()

    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(
            *(server.serve(sockets=[sockets[name]]) for name, server in zip(SERVICES, servers, strict=True))
        )
    finally:
        for sock in sockets.values():
            sock.close()

"""``InProcessTransport``: a synchronous httpx transport that runs an ASGI app on a private event-loop thread.

httpx's own ``ASGITransport`` is async-only. This one lets the sync clients (and their worker threads) call the
simulator in-process, honours the request's read timeout (a ``timeout`` fault surfaces as ``httpx.ReadTimeout``)
and maps a ``drop`` fault to ``httpx.RemoteProtocolError``, exactly what a real socket would produce.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import httpx

from data.simulator.app import DropConnection


class InProcessTransport(httpx.BaseTransport):
    """Serve ``app`` to httpx without sockets; shared by many clients, so ``close()`` is a no-op: ``shutdown()``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator-loop", daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._closing:
            raise httpx.ConnectError("the in-process simulator was shut down", request=request)
        body = request.read()
        timeout = (request.extensions.get("timeout") or {}).get("read")
        coroutine = self._call(request, body)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:  # the loop closed between the check above and now
            coroutine.close()
            raise httpx.ConnectError("the in-process simulator was shut down", request=request) from None
        try:
            status, headers, content = future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("the simulated service did not answer in time", request=request) from None
        except DropConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _call(self, request: httpx.Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 50000),
            "server": (url.host, url.port or 80),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects early
            return {"type": "http.disconnect"}

        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        except DropConnection:
            raise
        except Exception:  # like uvicorn: an app crash before answering is a plain 500 to the client
            if not headers:
                return 500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error"
        return status, headers, b"".join(chunks)

    def close(self) -> None:
        """Kept open: several clients share this transport (see ``shutdown``)."""

    def shutdown(self) -> None:
        """Stop the event loop thread; requests still in flight (e.g. hanging on a timeout fault) are cancelled."""
        if self._closing:
            return
        self._closing = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.run_until_complete(_cancel_leftovers())
        self._loop.close()


async def _cancel_leftovers() -> None:
    """Let callbacks queued by late callers create their tasks, then cancel every task so none is left unawaited."""
    await asyncio.sleep(0)
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

"""The HTTP guards of `bwot serve`: what a request may be before the application looks at it.

- Host allow-list: a page on another domain that resolves to this machine (DNS rebinding) sends its own
  name as `Host`; only the bound address, `localhost`, `127.0.0.1`, `[::1]` and the names given with
  `--allow-host` are answered (Starlette's TrustedHostMiddleware: 400 otherwise).
- Security headers on every response: a Content-Security-Policy that allows this server only (the page
  loads nothing from elsewhere; drawings and uploads are shown from `data:` and `blob:` URLs), no framing,
  no content sniffing, no referrer.
- Bodies read with a size limit applied while reading (and before reading, from Content-Length) and a
  deadline: an upload never takes more memory than the limit, nor a slow client a worker for ever.
- Clients that send their request headers too slowly are disconnected (`GuardedH11Protocol`: uvicorn times
  out idle keep-alive connections only).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("bwot.serve")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def allowed_hosts(bound: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host names answered: the bound address (bracketed when IPv6), the loopback names and `extra`
    ('*' answers any Host: for a proxy that checks it)."""
    own = f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound
    wildcard = own in ("0.0.0.0", "[::]")  # not a name any client sends
    names = [*LOOPBACK_NAMES, *([] if wildcard else [own]), *extra]
    return list(dict.fromkeys(name.lower() for name in names))


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS added to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UploadAbandoned(Exception):
    """The client went away before the end of its request body (`received`: the bytes that came)."""

    def __init__(self, received: int) -> None:
        self.received = received
        super().__init__(f"upload abandoned after {received:,} bytes")


def peer(client: Any) -> str:
    """'host:port' of a connection's client (uvicorn's and Starlette's (host, port)), or 'a client'."""
    return f"{client[0]}:{client[1]}" if client else "a client"


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, at most `limit` bytes (413 from the declared Content-Length before reading, or as
    soon as more arrives), all of it within `timeout` seconds (408); UploadAbandoned when the client goes
    away meanwhile."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HTTPException(400, f"Content-Length is not a number of bytes ({safe_text(declared, 40)})")
        if int(declared) > limit:
            raise HTTPException(413, f"image too large ({int(declared):,} bytes declared; at most {limit:,})")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    chunks = request.stream().__aiter__()
    body = bytearray()
    while True:
        try:
            chunk = await asyncio.wait_for(anext(chunks), max(0.0, deadline - loop.time()))
        except StopAsyncIteration:
            return bytes(body)
        except ClientDisconnect:
            raise UploadAbandoned(len(body)) from None
        except TimeoutError:
            raise HTTPException(408, f"the upload took longer than {timeout:g} s") from None
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"image too large (more than {limit:,} bytes; at most {limit:,})")


def safe_text(text: str, length: int = 200) -> str:
    """`text` on one line (control characters, newlines included, as one space) and at most `length`
    characters: safe to put in a one-line message or log line."""
    line = _CONTROL.sub(" ", text).strip()
    return line if len(line) <= length else line[: length - 3] + "..."


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, which also closes a connection whose request headers have not all arrived
    `header_timeout` seconds after it opened or after its last response (a slowloris client); bodies
    have their own deadline (`read_body`)."""

    header_timeout = 30.0

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def _headers_overdue(self) -> None:
        waiting = self.cycle is None or self.cycle.response_complete  # no request of its own under way
        if waiting and not self.transport.is_closing():
            log.info("closed %s: no complete request within %g s", peer(self.client), self.header_timeout)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float) -> type[GuardedH11Protocol]:
    """GuardedH11Protocol with its own `header_timeout` (uvicorn makes one protocol per connection from
    the class it is given)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": float(header_timeout)})

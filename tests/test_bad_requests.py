"""Hostile and careless HTTP requests to `bwot serve`, sent as raw bytes to a real server on a loopback port.

Every case must get its named refusal (status and a one-line reason) or its right answer, carry the
security headers, and leave the server answering. The server runs with `--client-timeout 2`, so the
slow-client cases end in seconds; every wait here waits on a state (an answer, a closed connection, a
log line), bounded by a generous deadline, never on a fixed delay.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fake_run import make_run
from PIL import Image
from test_bad_inputs import png_with_header, sketch_image
from test_serve import Served, serving

DEADLINE = 60.0  # seconds: how long a case may wait for the state it expects


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    run = make_run(tmp_path_factory.mktemp("hostile"))
    with serving(run, "-k", "5", "--client-timeout", "2") as server:
        yield server


@dataclass
class Answer:
    """What came back on one connection: status (None: closed without an answer), headers, body."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def detail(self) -> str:
        try:
            return str(json.loads(self.body)["detail"])
        except (ValueError, KeyError, TypeError):
            return self.body.decode(errors="replace")


def port_of(server: Served) -> int:
    return int(server.url.rsplit(":", 1)[1])


def exchange(server: Served, data: bytes, *, then: Callable[[socket.socket], None] | None = None) -> Answer:
    """Send `data` on a new connection (then `then(sock)`), read one response, or note the close."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=DEADLINE) as sock:
        try:
            sock.sendall(data)
            if then is not None:
                then(sock)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused before the whole request was sent: its answer may still be there
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            body = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Answer(None)
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    host: str | None = "127.0.0.1",
) -> bytes:
    """Raw HTTP/1.1 bytes (Connection: close; Content-Length of the body unless given)."""
    head = {"Host": host} if host is not None else {}
    head |= {"Connection": "close"}
    if method == "POST" or body:
        head["Content-Length"] = str(len(body))
    head |= headers or {}
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def gif(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="GIF")
    return out.getvalue()


@dataclass
class Case:
    """A request and what must come of it."""

    data: Callable[[Served], bytes]
    status: int | tuple[int | None, ...] | None  # None: closed without an answer; a tuple: any of them
    says: str = ""  # a regular expression the answer's detail (or body) must match
    then: Callable[[socket.socket], None] | None = None


SKETCH = png(sketch_image())
HOST_PORT = "127.0.0.1:{port}"


def _req(method: str, path: str, body: bytes = b"", **kw) -> Callable[[Served], bytes]:
    return lambda s: request(method, path, body, **kw)


def _with_port(method: str, path: str, host: str, body: bytes = b"") -> Callable[[Served], bytes]:
    return lambda s: request(method, path, body, host=host.format(port=port_of(s)))


# name -> the case
CASES: dict[str, Case] = {
    # Host: only this machine's names (DNS rebinding)
    "host: a foreign name": Case(_req("GET", "/api/info", host="evil.example.com"), 400, "Invalid host"),
    "host: a foreign name with our port": Case(
        _with_port("GET", "/api/info", "evil.example.com:{port}"), 400, "Invalid host"
    ),
    "host: a foreign name, POST search": Case(
        _req("POST", "/api/search", SKETCH, host="rebind.attacker.test"), 400, "Invalid host"
    ),
    "host: a subdomain of localhost": Case(_req("GET", "/", host="evil.localhost"), 400, "Invalid host"),
    "host: missing": Case(_req("GET", "/api/info", host=None), 400, ""),
    "host: empty": Case(_req("GET", "/api/info", host=""), 400, "Invalid host"),
    "host: localhost with port (valid)": Case(_with_port("GET", "/api/info", "localhost:{port}"), 200),
    "host: LOCALHOST in capitals (valid)": Case(_req("GET", "/api/info", host="LOCALHOST"), 200),
    "host: 127.0.0.1 with port (valid)": Case(_with_port("GET", "/api/info", HOST_PORT), 200),
    # body size: refused from Content-Length before reading, and while reading
    "size: Content-Length 10^20 (21 digits: the HTTP parser's refusal)": Case(
        _req("POST", "/api/search", headers={"Content-Length": str(10**20)}), 400, ""
    ),
    "size: Content-Length 10^20 - 1": Case(
        _req("POST", "/api/search", headers={"Content-Length": str(10**20 - 1)}), 413, "image too large"
    ),
    "size: Content-Length 33 MiB declared": Case(
        _req("POST", "/api/search", headers={"Content-Length": str(33 * 2**20)}), 413, "at most"
    ),
    "size: chunked body over the limit": Case(
        lambda s: request("POST", "/api/search", headers={"Transfer-Encoding": "chunked"}).replace(
            b"Content-Length: 0\r\n", b""
        ),
        413,
        "image too large",
        then=lambda sock: _send_chunks(sock, 40 * 2**20),
    ),
    "size: Content-Length not a number": Case(
        _req("POST", "/api/search", headers={"Content-Length": "lots"}), 400, ""
    ),
    "size: negative Content-Length": Case(
        _req("POST", "/api/search", headers={"Content-Length": "-5"}), 400, ""
    ),
    # slow and vanishing clients
    "slow: nothing sent": Case(lambda s: b"", None),
    "slow: half a request line": Case(lambda s: b"GET /api/in", None),
    "slow: headers never end": Case(lambda s: b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n", None),
    "slow: a body that stops": Case(
        _req("POST", "/api/search", headers={"Content-Length": "1000"}),
        408,
        "took longer than 2 s",
        then=lambda sock: sock.sendall(b"\x89PNG\r\n\x1a\n"),
    ),
    # the sketch's name: one line, bounded
    "name: a newline in X-Sketch-Name": Case(
        _req("POST", "/api/search", b"<html>", headers={"X-Sketch-Name": "my%0Asketch%0D%0Aevil"}),
        422,
        r"^my sketch evil: not a readable image",
    ),
    "name: control characters": Case(
        _req("POST", "/api/search", b"junk", headers={"X-Sketch-Name": "a%00b%1Bc"}),
        422,
        r"^a b c: not a readable image",
    ),
    "name: 10 kB long": Case(
        _req("POST", "/api/search", b"junk", headers={"X-Sketch-Name": "x" * 10_000}),
        422,
        r"^x{197}\.\.\.: not a readable image",
    ),
    "name: invalid UTF-8 escapes": Case(
        _req("POST", "/api/search", b"junk", headers={"X-Sketch-Name": "%FF%FE"}),
        422,
        "not a readable image",
    ),
    # images
    "image: empty body": Case(_req("POST", "/api/search"), 422, r"^the drawing: empty file"),
    "image: HTML": Case(_req("POST", "/api/search", b"<html>hi</html>"), 422, "not a readable image"),
    "image: JSON": Case(
        _req("POST", "/api/search", b'{"a": 1}', headers={"Content-Type": "application/json"}),
        422,
        "not a readable image",
    ),
    "image: GIF": Case(_req("POST", "/api/search", gif(sketch_image())), 422, "unsupported format GIF"),
    "image: decompression bomb header": Case(
        _req("POST", "/api/search", png_with_header(40000, 40000)), 422, "decompression bomb"
    ),
    "image: zero-size header": Case(
        _req("POST", "/api/search", png_with_header(0, 0)), 422, "zero-size image"
    ),
    "image: truncated PNG": Case(_req("POST", "/api/search", SKETCH[:200]), 422, "truncated or corrupt"),
    "image: 1x1": Case(
        _req("POST", "/api/search", png(np.zeros((1, 1), np.uint8))), 422, "image too small for a sketch"
    ),
    "image: 12x12 with ink": Case(
        _req("POST", "/api/search", png(sketch_image()[::10, ::10])), 422, r"too small for a sketch \(12x12"
    ),
    "image: blank": Case(_req("POST", "/api/search", png(np.full((64, 64), 255, np.uint8))), 422, "no ink"),
    "image: black": Case(
        _req("POST", "/api/search", png(np.zeros((64, 64), np.uint8))), 422, "no paper found"
    ),
    "image: a sketch, k=1 (valid)": Case(_req("POST", "/api/search?k=1", SKETCH), 200),
    # parameters and paths
    "k: 0": Case(_req("POST", "/api/search?k=0", SKETCH), 422, "k must be between 1 and 100"),
    "k: 101": Case(_req("POST", "/api/search?k=101", SKETCH), 422, "k must be between 1 and 100"),
    "k: not a number": Case(_req("POST", "/api/search?k=abc", SKETCH), 422, r"^k: .*integer.*\(abc\)"),
    "k: 10^30": Case(_req("POST", "/api/search?k=" + "9" * 30, SKETCH), 422, "k must be between"),
    "thumbnail: row -1": Case(_req("GET", "/api/thumbnails/-1.png"), 404, "no target row -1"),
    "thumbnail: row 10^30": Case(_req("GET", "/api/thumbnails/" + "9" * 30 + ".png"), 404, "no target row"),
    "thumbnail: not a number": Case(_req("GET", "/api/thumbnails/abc.png"), 422, r"^row: "),
    "path: traversal in a test id": Case(_req("GET", "/api/tests/..%2F..%2Fetc%2Fpasswd.png"), 404, ""),
    "path: traversal in static": Case(_req("GET", "/static/..%2F..%2F..%2Fetc%2Fpasswd"), 404, ""),
    "path: unknown test sketch": Case(_req("POST", "/api/search/test/nope"), 404, "no test sketch 'nope'"),
    "method: PUT on search": Case(_req("PUT", "/api/search", SKETCH), 405, ""),
    "protocol: garbage request line": Case(lambda s: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n", 400),
    "protocol: 1 MB of headers": Case(
        _req("GET", "/api/info", headers={f"X-Pad-{i}": "y" * 1000 for i in range(1000)}),
        (400, None),  # refused while it is still being sent: the answer may be lost with the reset
    ),
    "protocol: HTTP/1.0 with Host (valid)": Case(
        lambda s: b"GET /api/info HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", 200
    ),
}


def _send_chunks(sock: socket.socket, total: int, size: int = 2**20) -> None:
    """A chunked body of `total` zero bytes, stopping quietly when the server has had enough."""
    chunk = f"{size:x}\r\n".encode() + bytes(size) + b"\r\n"
    try:
        for _ in range(total // size):
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass


@pytest.mark.parametrize("name", list(CASES))
def test_bad_request_gets_its_answer(name, served):
    case = CASES[name]
    answer = exchange(served, case.data(served), then=case.then)
    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    assert answer.status in expected, (answer.status, answer.body[:300])
    if answer.status is not None:
        if case.says:
            assert re.search(case.says, answer.detail), answer.detail
        assert "\n" not in answer.detail.strip(), answer.detail
        if answer.status != 400 or "Invalid host" in answer.detail:  # uvicorn's own 400s are bare
            assert answer.headers.get("x-frame-options") == "DENY", answer.headers
    info = exchange(served, request("GET", "/api/info"))
    assert info.status == 200  # still serving


def test_the_corpus_counts_at_least_80_cases():
    from test_bad_inputs import CASES as CLI_CASES

    assert len(CLI_CASES) + len(CASES) >= 80, (len(CLI_CASES), len(CASES))


def test_the_page_carries_security_headers(served):
    answer = exchange(served, request("GET", "/"))
    assert answer.status == 200
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_a_foreign_origin_gets_no_cors_grant(served):
    answer = exchange(served, request("GET", "/api/info", headers={"Origin": "http://evil.example.com"}))
    assert answer.status == 200 and "access-control-allow-origin" not in answer.headers


def test_an_abandoned_upload_logs_one_line_and_no_traceback(served):
    with socket.create_connection(("127.0.0.1", port_of(served)), timeout=DEADLINE) as sock:
        me = f"127.0.0.1:{sock.getsockname()[1]}"
        sock.sendall(request("POST", "/api/search", headers={"Content-Length": "100000"}) + b"x" * 1000)
    deadline = time.monotonic() + DEADLINE
    while me not in served.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in served.log_text().splitlines() if me in line]
    assert len(lines) == 1 and "upload abandoned after 1,000 bytes" in lines[0], lines
    assert "Traceback" not in served.log_text()


def test_a_huge_upload_costs_no_more_memory_than_the_limit(served):
    """200 MiB sent chunked: the server stops reading at 32 MiB; its peak memory grows far less than the
    upload (reading the whole body first took it from 1.2 to 3.1 GB for 1000 MiB)."""
    before = _peak_rss(served.proc.pid)
    head = request("POST", "/api/search", headers={"Transfer-Encoding": "chunked"})
    answer = exchange(
        served, head.replace(b"Content-Length: 0\r\n", b""), then=lambda s: _send_chunks(s, 200 * 2**20)
    )
    assert answer.status in (413, None)  # refused (the answer can be lost with the reset connection)
    grown = _peak_rss(served.proc.pid) - before
    assert grown < 100 * 2**20, f"peak memory grew {grown / 2**20:.0f} MiB for a 200 MiB upload"
    assert exchange(served, request("GET", "/api/info")).status == 200


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), bytes."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) * 1024


def test_no_traceback_in_the_server_log(served):
    for name in ("slow: a body that stops", "size: Content-Length 10^20 - 1", "host: a foreign name"):
        exchange(served, CASES[name].data(served), then=CASES[name].then)
    assert "Traceback" not in served.log_text(), served.log_text()[-3000:]


# --------------------------------------------------------------------------------- starting the server


def test_a_port_out_of_range_is_refused_before_loading(capsys, tmp_path):
    from bwot.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--run", str(tmp_path / "no-such-run"), "--port", "99999"])
    assert exit_.value.code == 2
    assert "port 99999 is out of range" in capsys.readouterr().err


def test_a_port_in_use_is_named_before_loading(capsys, tmp_path):
    from bwot.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # the run does not exist: the port is what is refused, so it was checked first
        status = main(["serve", "--run", str(tmp_path / "no-such-run"), "--port", str(port)])
    err = capsys.readouterr().err
    assert status == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err, err
    assert "Traceback" not in err


def test_allow_host_names_are_answered(tmp_path_factory):
    from bwot.serve.http import allowed_hosts

    assert allowed_hosts("127.0.0.1") == ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts("::1") == ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts("0.0.0.0", ["Box.Lan"]) == ["localhost", "127.0.0.1", "[::1]", "box.lan"]
    assert allowed_hosts("192.168.1.5") == ["localhost", "127.0.0.1", "[::1]", "192.168.1.5"]

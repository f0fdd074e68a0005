"""`bwot serve`: the run's sketch search as a local web page (127.0.0.1 unless --host says otherwise).

bwot serve --run results/builtin [--loss ot] [--port 8000] [--host 127.0.0.1] [-k 10] [--allow-host NAME]

The address is taken before the run is loaded, so a port in use or out of range is said at once. Only
requests naming an allowed Host are answered (the bound address and this machine's loopback names, plus
each --allow-host): a page on another domain that resolves here (DNS rebinding) gets 400.
"""

from __future__ import annotations

import argparse
import logging
import socket
from pathlib import Path

from bwot.losses.registry import LOSSES
from bwot.query.ann import add_backend_option

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 64  # open connections at once; more are answered 503
BATCH = 16  # queries answered together at most (bwot.serve.batcher)


def port_number(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535, for argparse."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range (0 to 65535; 0: any free port)")
    return port


def seconds(text: str) -> float:
    """A positive, finite number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text} s: give a number of seconds above 0 and below a day")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder, results/<name>")
    parser.add_argument(
        "--loss", choices=list(LOSSES), help="whose metric and index (default: ot, or the only one indexed)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1: this machine only)")
    parser.add_argument(
        "--port", type=port_number, default=8000, help="port (default 8000; 0: any free port)"
    )
    parser.add_argument("-k", type=int, default=10, help="models shown per sketch (default 10)")
    add_backend_option(parser)
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this Host name (repeatable; e.g. the machine's name when --host "
        "0.0.0.0; '*': any, behind a proxy that checks it)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=BATCH,
        metavar="N",
        help=f"queries answered together at most (default {BATCH}; 1: one at a time)",
    )
    parser.add_argument(
        "--client-timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="seconds a client may take to send a request's headers, and again its body (default 30)",
    )


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (a ValueError naming the address and the reason when it cannot)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)  # connections wait in the backlog until the server accepts them
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


def run(args: argparse.Namespace) -> int:
    from bwot.serve.app import MAX_K

    if not 1 <= args.k <= MAX_K:
        raise ValueError(f"-k must be between 1 and {MAX_K}, got {args.k}")
    if not 1 <= args.max_batch <= 1024:
        raise ValueError(f"--max-batch must be between 1 and 1024, got {args.max_batch}")
    sock = listen(args.host, args.port)  # before the seconds of loading: a taken port is said now
    try:
        serve(args, sock)
    finally:
        sock.close()
    return 0


def serve(args: argparse.Namespace, sock: socket.socket) -> None:
    """Load the run and serve on `sock` until Ctrl-C."""
    import uvicorn

    from bwot.query.retriever import Retriever
    from bwot.serve.app import create_app
    from bwot.serve.http import allowed_hosts, guarded_protocol

    retriever = Retriever(args.run, args.loss, backend=args.backend)
    hosts = allowed_hosts(args.host, args.allow_host)
    app = create_app(
        retriever, k=args.k, hosts=hosts, body_timeout=args.client_timeout, max_batch=args.max_batch
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=sock.getsockname()[1],
        http=guarded_protocol(args.client_timeout),
        limit_concurrency=MAX_CONNECTIONS,
        log_level="info",
        access_log=False,
    )
    log.info(
        "%s, loss %s: %d target models indexed, %s search",
        args.run,
        retriever.loss,
        len(retriever.index),
        retriever.backend,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: other machines can reach this page", args.host)
    log.info("answering requests for Host %s", ", ".join(hosts))
    port = sock.getsockname()[1]
    url = f"http://[{args.host}]:{port}" if ":" in args.host else f"http://{args.host}:{port}"
    log.info("listening on %s (Ctrl-C stops it)", url)
    try:
        uvicorn.Server(config).run(sockets=[sock])  # logs the address; Ctrl-C stops it
    finally:
        app.state.batcher.close()

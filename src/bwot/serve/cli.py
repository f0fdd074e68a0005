"""`bwot serve`: the run's sketch search as a local web page (127.0.0.1 unless --host says otherwise).

bwot serve --run results/builtin [--loss ot] [--port 8000] [--host 127.0.0.1] [-k 10]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bwot.losses.registry import LOSSES

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder, results/<name>")
    parser.add_argument(
        "--loss", choices=list(LOSSES), help="whose metric and index (default: ot, or the only one indexed)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    parser.add_argument("-k", type=int, default=10, help="models shown per sketch (default 10)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from bwot.query.retriever import Retriever
    from bwot.serve.app import MAX_K, create_app

    if not 1 <= args.k <= MAX_K:
        raise ValueError(f"-k must be between 1 and {MAX_K}, got {args.k}")
    retriever = Retriever(args.run, args.loss)
    app = create_app(retriever, k=args.k)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info", access_log=False)
    log.info("%s, loss %s: %d target models indexed", args.run, retriever.loss, len(retriever.index))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: other machines can reach this page", args.host)
    uvicorn.Server(config).run()  # logs the address; Ctrl-C stops it
    return 0

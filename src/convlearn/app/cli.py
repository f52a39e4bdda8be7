"""``convlearn app``: the web app on the command line.

::

    convlearn app mnist_cnn.keras          # open a model and the browser
    convlearn app                          # no model: train one from the page, or open a file
    convlearn app model.keras --port 8001 --no-browser

The main ``convlearn`` command adds this one with :func:`add_parser` and calls :func:`run`.
Importing this module is cheap: Starlette, uvicorn and NumPy are imported by :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_parser", "configure_parser", "run", "main", "INSTALL_HINT"]

INSTALL_HINT = 'convlearn app needs its web server packages: pip install "convlearn[app]"'
DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``app`` to ``parser``."""
    parser.add_argument("model", nargs="?", metavar="MODEL",
                        help="a .keras model file of a 28x28x1 image classifier (e.g. mnist_cnn.keras from "
                             "'convlearn train'); without it the page offers to train one or to open a file")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}, this computer only); another "
                             "address lets other computers reach the app, and prints a warning")
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in a web browser")
    parser.add_argument("--save-dir", default=".", metavar="DIR",
                        help="folder where models trained on the page are saved (default: the current folder)")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``app`` on the sub-commands of the ``convlearn`` command; its defaults hold ``func=run``."""
    parser = subparsers.add_parser(
        "app", help="see inside a CNN in the web browser: draw a digit, every layer, the backward pass, live training",
        description="Start a local web app that shows a model at work: draw or upload a digit, see every layer's "
                    "output and click a cell for its arithmetic, follow the backward pass, play with convolution, "
                    "and train a model live. It listens on 127.0.0.1 only, unless --host says otherwise.")
    configure_parser(parser)
    parser.set_defaults(func=run)
    return parser


def _error(message: str) -> int:
    print(f"convlearn app: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run ``convlearn app`` with parsed arguments; returns the exit status.

    Returns
    -------
    int
        0 after a clean stop (Ctrl-C), 2 for a bad argument, a missing or unusable model, a
        port in use or missing packages.
    """
    try:
        import uvicorn  # noqa: F401
        import starlette  # noqa: F401
    except ImportError:
        return _error(INSTALL_HINT)
    if not 0 <= args.port <= 65535:
        return _error(f"--port must be from 0 to 65535; got {args.port}.")
    from .server import LOOPBACK_HOSTS, check_model, create_app
    from .uploads import RequestError

    model = None
    source = None
    if args.model is not None:
        from ..models import load_model

        if not os.path.isfile(args.model):
            return _error(f"no model file at {args.model!r}. Train one with: convlearn train --output {args.model}")
        try:
            model = load_model(args.model)
            check_model(model)
        except (ValueError, OSError) as exc:
            if isinstance(exc, RequestError):
                return _error(f"cannot show {args.model!r}: {exc}")
            return _error(f"cannot load the model {args.model!r}: {exc}")
        source = os.path.basename(args.model)
    if not os.path.isdir(args.save_dir):
        return _error(f"--save-dir {args.save_dir!r} is not a folder.")
    loopback = args.host in LOOPBACK_HOSTS
    hosts = None if loopback else ["*"]
    if not loopback:
        print(f"convlearn app: warning: listening on {args.host}: other computers that can reach this address can "
              "use the app (and train on this computer). Use the default --host 127.0.0.1 to keep it private.",
              file=sys.stderr)
    app = create_app(model, source, save_dir=args.save_dir, allowed_hosts=hosts)
    return serve(app, args.host, args.port, open_browser=not args.no_browser)


def serve(app: Any, host: str, port: int, open_browser: bool = True) -> int:
    """Serve ``app`` with uvicorn until Ctrl-C; open the page in a browser once it listens."""
    import socket
    import threading
    import webbrowser

    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns Nagle's algorithm off only on sockets that say
    # so, and with it on, a response written in two pieces (headers, body) can wait 40 ms for
    # the browser's delayed acknowledgement
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        return _error(f"cannot listen on {host}:{port} ({exc.strerror or exc}). Is another app using the port? "
                      "Choose another with --port.")
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, access_log=False)
    server = uvicorn.Server(config)
    print(f"convlearn app: open {url} in a web browser (Ctrl-C stops the app)", flush=True)
    if open_browser:
        def opener() -> None:
            try:
                webbrowser.open(url)
            except Exception:  # noqa: BLE001 - no browser is fine: the address is printed
                pass
        threading.Timer(0.8, opener).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m convlearn.app``: the same options as ``convlearn app``."""
    parser = configure_parser(argparse.ArgumentParser(prog="convlearn app"))
    return run(parser.parse_args(argv))

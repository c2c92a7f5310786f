"""``gmmfast serve``: the web app (segment, cut out, subtract backgrounds in a browser)."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import sys
import warnings

from ._common import error, warn

HELP = "serve the web app: segmentation, GrabCut and background subtraction in a browser"

DESCRIPTION = """\
Serve gmmfast's web app with waitress (a production WSGI server) and print its
address.  Open it in a browser: upload a picture to segment it, draw a box to
cut an object out, or upload a short video to separate its moving foreground.
Scripts can call the same JSON API (POST /api/segment ...; see the README).

By default it listens on 127.0.0.1, this machine only.  It has no accounts or
encryption: to offer it to others, keep it on 127.0.0.1 and put a reverse proxy
(nginx, Caddy...) with HTTPS and authentication in front of it.  Uploads live in
a private temporary folder and are deleted after --job-timeout minutes and
when the server stops.  Needs the 'web' extra: pip install 'gmmfast[web]'.
"""


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
        return value
    return parse


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text!r}")
    return port


#: Its images come from anyone: Pillow's decompression-bomb warning stays (see allow_large_photos).
READS_UPLOADS = True


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gmmfast serve``."""
    p = subparsers.add_parser("serve", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--max-upload-mb", type=_positive(float), default=50.0, metavar="MB",
                   help="largest upload accepted, in MiB (1,048,576 bytes; default: 50)")
    p.add_argument("--workers", type=_positive(int), default=1, metavar="N",
                   help="jobs computed at the same time, each on all cores (default: 1)")
    p.add_argument("--queue-size", type=_positive(int), default=16, metavar="N",
                   help="jobs waiting or running at most; more are asked to retry later (default: 16)")
    p.add_argument("--job-timeout", type=_positive(float), default=30.0, metavar="MINUTES",
                   help="delete an upload and its results this long after their last use (default: 30)")
    p.set_defaults(func=run)
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    """Serve until Ctrl+C; returns the exit status."""
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401

        from ..web import WebConfig, serve
    except ImportError as exc:
        error(f"gmmfast serve needs Flask and waitress ({exc.name} is missing): pip install 'gmmfast[web]'")
        return 2
    try:
        from ..web._app import LOCAL_HOSTS

        # on localhost, requests must name localhost (a re-pointed DNS name cannot reach the app)
        config = WebConfig(max_upload_mb=args.max_upload_mb, workers=args.workers, queue_size=args.queue_size,
                           job_ttl=60.0 * args.job_timeout,
                           allowed_hosts=LOCAL_HOSTS if _is_loopback(args.host) else None)
    except ValueError as exc:
        error(str(exc))
        return 2
    if not _is_loopback(args.host):
        print(f"gmmfast: warning: listening on {args.host}: anyone who can reach this address can use the app. "
              "It has no login or HTTPS; put a reverse proxy with both in front of it.", file=sys.stderr)

    def ready(url: str) -> None:
        print(f"gmmfast web app: {url}  (Ctrl+C to stop)", flush=True)

    # the library's warnings about an upload (an animation's first frame read, ...) go to the log as
    # one line each, not as Python's "file:line: UserWarning" with the source line under it
    warnings.showwarning = lambda message, category, *rest, **kw: warn(f"{category.__name__}: {message}")

    try:
        serve(config, host=args.host, port=args.port, ready=ready)
    except OSError as exc:
        hint = {errno.EADDRINUSE: "is another server using that port? try another --port",
                errno.EADDRNOTAVAIL: "is it an address of this machine? try --host 127.0.0.1, or 0.0.0.0 for all",
                errno.EACCES: "ports below 1024 need privileges; try --port 8000"}.get(exc.errno, "try another --port")
        error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} ({hint})")
        return 1
    print("gmmfast web app stopped; its temporary files are deleted.")
    return 0


def demo_step(out_dir, report) -> None:
    """``gmmfast demo``: point at the web app."""
    report("web app: run `gmmfast serve` and open http://127.0.0.1:8000/ to segment, cut out and subtract "
           "backgrounds in a browser (needs pip install 'gmmfast[web]')")

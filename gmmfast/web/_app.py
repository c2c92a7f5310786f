"""The Flask application: configuration, shared state and error pages."""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from ._jobs import JobStore, QueueFull, UserError, WorkQueue
from ._uploads import TooLarge

log = logging.getLogger("gmmfast.web")

MB = 1 << 20


@dataclass
class WebConfig:
    """Settings of the web app (``gmmfast serve`` sets the first four from its options).

    Attributes
    ----------
    max_upload_mb : float
        Largest upload accepted; a larger one is answered with 413.
    workers : int
        Jobs computed at the same time (each uses all cores).
    queue_size : int
        Jobs waiting or running at most; one more is answered with 503.
    job_ttl : float
        Seconds after its last use when an upload and its results are deleted.
    max_image_pixels : int
        Largest image (width x height) decoded; checked from the header before decoding.
    preview_side : int
        Longest side of the previews shown in the page (full-size files are downloads).
    cutout_max_pixels : int
        Images larger than this are cut out at a reduced working size.
    max_frames, max_frame_pixels, max_video_pixels : int
        Frames of a video processed at most; largest frame; largest frames x pixels in all.
    wait_seconds : float
        Longest time an API call waits for its result before answering 202 (still running).
    max_jobs : int
        Uploads kept at most (the least recently used idle one is deleted first).
    cache_mb : float
        Memory for decoded uploads kept between runs.
    temp_dir : str or None
        Where the private job folders are made (None: the system's temporary folder).
    allowed_hosts : tuple of str or None
        Host names the requests may address (the Host header, port ignored); others get 400.
        ``gmmfast serve`` on a loopback address allows only localhost names, so a web page
        cannot reach the app through a DNS name re-pointed at 127.0.0.1 ("DNS rebinding").
        None allows any.
    """

    max_upload_mb: float = 50.0
    workers: int = 1
    queue_size: int = 16
    job_ttl: float = 1800.0
    max_image_pixels: int = 40_000_000
    preview_side: int = 1024
    cutout_max_pixels: int = 4_000_000
    max_frames: int = 300
    max_frame_pixels: int = 3840 * 2160
    max_video_pixels: int = 120_000_000
    wait_seconds: float = 120.0
    max_jobs: int = 200
    cache_mb: float = 1024.0
    temp_dir: str | None = None
    allowed_hosts: tuple | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("temp_dir", "allowed_hosts"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{f.name} must be a positive number, got {value!r}.")
        for name in ("workers", "queue_size", "max_jobs"):
            if int(getattr(self, name)) != getattr(self, name):
                raise ValueError(f"{name} must be a whole number, got {getattr(self, name)!r}.")

    def limits(self) -> dict:
        """The limits a page or client should know about."""
        return {"max_upload_mb": self.max_upload_mb, "max_image_megapixels": self.max_image_pixels / 1e6,
                "max_frames": self.max_frames, "max_video_megapixels": self.max_video_pixels / 1e6,
                "job_ttl_minutes": self.job_ttl / 60.0}


class WebState:
    """What the app's requests share: the configuration, the jobs and the work queue."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.store = JobStore(ttl=config.job_ttl, max_jobs=config.max_jobs, root=config.temp_dir)
        self.queue = WorkQueue(workers=config.workers, capacity=config.queue_size)
        self._closed = False
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop the workers and delete every job folder (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.queue.close()
        self.store.close()


def create_app(config: WebConfig | None = None, **settings: Any):
    """The gmmfast web app (a Flask application).

    Parameters
    ----------
    config : WebConfig or None
        Settings; None uses the defaults.
    **settings
        Individual :class:`WebConfig` fields overriding ``config``'s.

    The app owns worker threads and a temporary folder; call
    :func:`close_app` when done with it (they are also removed at exit).
    Serve it with a production WSGI server (``gmmfast serve`` uses waitress).
    """
    from flask import Flask, request

    base = asdict(config) if config is not None else {}
    cfg = WebConfig(**{**base, **settings})
    app = Flask("gmmfast.web", static_folder="static", template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = int(cfg.max_upload_mb * MB) + 64 * 1024  # + the form fields
    app.config["MAX_FORM_MEMORY_SIZE"] = 1 * MB
    app.json.sort_keys = False
    state = WebState(cfg)
    app.extensions["gmmfast"] = state
    atexit.register(state.close)

    from ._routes import api, error_response, pages

    app.register_blueprint(pages)
    app.register_blueprint(api)
    _register_error_handlers(app)

    @app.before_request
    def _check_host():
        if cfg.allowed_hosts is not None and _host_name(request.host) not in cfg.allowed_hosts:
            return error_response(400, "This server answers only requests addressed to "
                                       f"{' or '.join(cfg.allowed_hosts[:2])}.")
        return None

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        return response

    return app


#: Host names of this machine's loopback addresses.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _host_name(host: str) -> str:
    """The name in a Host header without its port ('[::1]:8000' -> '::1')."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def close_app(app) -> None:
    """Stop an app's workers and delete its temporary folders."""
    state = app.extensions.get("gmmfast")
    if state is not None:
        state.close()


def _register_error_handlers(app) -> None:
    from werkzeug.exceptions import HTTPException

    from ._routes import error_response

    @app.errorhandler(TooLarge)
    def _too_large(exc):
        return error_response(413, str(exc))

    @app.errorhandler(UserError)
    def _bad_input(exc):
        return error_response(400, str(exc))

    @app.errorhandler(QueueFull)
    def _busy(exc):
        response = error_response(503, "The server is busy with other jobs right now; please try again in a moment.")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(HTTPException)
    def _http(exc):
        if exc.code == 413:
            limit = app.extensions["gmmfast"].config.max_upload_mb
            return error_response(413, f"The upload is larger than this server's limit of {limit:g} MB.")
        messages = {404: "There is nothing here (the address is wrong, or the upload has expired).",
                    405: "This address does not accept that kind of request."}
        return error_response(exc.code or 500, messages.get(exc.code, exc.description or exc.name))

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unexpected error")
        return error_response(500, "Something went wrong on the server (the details are in its log).")

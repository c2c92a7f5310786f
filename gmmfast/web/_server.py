"""Serving the app with waitress, a production WSGI server (never Flask's development server).

:func:`serve` runs in the foreground until Ctrl+C or SIGTERM and then deletes
the jobs' folders; :class:`ServerThread` runs the same server in a background
thread (for tests, benchmarks and notebooks).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any

from ._app import MB, WebConfig, close_app, create_app

#: waitress threads beyond one per queued job, for pages, previews and status polls.
EXTRA_THREADS = 6


def _make_server(app, host: str, port: int):
    from waitress.server import create_server

    cfg: WebConfig = app.extensions["gmmfast"].config
    return create_server(
        app, host=host, port=port,
        # every queued job's request may wait for its result in a thread of its own
        threads=cfg.queue_size + EXTRA_THREADS,
        # Flask answers oversized uploads with its own 413 page; waitress stops absurd ones earlier
        max_request_body_size=int(2 * cfg.max_upload_mb * MB) + MB,
        ident="gmmfast", clear_untrusted_proxy_headers=True, channel_timeout=300)


def _app_for(app_or_config: Any, settings: dict):
    if app_or_config is None or isinstance(app_or_config, WebConfig):
        return create_app(app_or_config, **settings), True
    if settings:
        raise TypeError("settings can be given only when the app is made here (pass a WebConfig or None).")
    return app_or_config, False


def serve(app_or_config: Any = None, host: str = "127.0.0.1", port: int = 8000, *, ready=None,
          **settings: Any) -> None:
    """Serve the web app on ``host:port`` with waitress until interrupted (Ctrl+C or SIGTERM).

    Parameters
    ----------
    app_or_config : Flask app, WebConfig or None
        The app to serve, or the settings to make one with.
    host, port : where to listen (default: this machine only, port 8000).
    ready : callable or None
        Called with the server's URL once it listens.
    **settings : :class:`WebConfig` fields, when the app is made here.

    The jobs' temporary folders are deleted when it returns.
    """
    app, own = _app_for(app_or_config, settings)
    try:
        server = _make_server(app, host, port)
    except BaseException:  # the port is taken, say: leave no folders behind
        if own:
            close_app(app)
        raise

    def _stop(signum, frame):  # SIGTERM ends the loop as Ctrl+C does, so the clean-up runs
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop) if threading.current_thread() is threading.main_thread() else None
    try:
        if ready is not None:
            ready(_url(host, server.effective_port))
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        _shutdown(server)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if own:
            close_app(app)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _shutdown(server) -> None:
    from waitress import wasyncore

    with contextlib.suppress(Exception):
        server.task_dispatcher.shutdown(timeout=2)
    with contextlib.suppress(Exception):
        wasyncore.close_all(server._map)


class ServerThread:
    """The web app served by waitress in a background thread.

    >>> with ServerThread() as server:          # doctest: +SKIP
    ...     print(server.url)                    # http://127.0.0.1:<free port>/

    Parameters
    ----------
    app_or_config : Flask app, WebConfig or None
        As for :func:`serve`.
    host : str
    port : int
        0 (default) picks a free port.
    """

    def __init__(self, app_or_config: Any = None, host: str = "127.0.0.1", port: int = 0,
                 **settings: Any) -> None:
        self.app, self._own = _app_for(app_or_config, settings)
        self._server = _make_server(self.app, host, port)
        self.host = host
        self.port = int(self._server.effective_port)
        self.url = _url(host, self.port)
        self._thread = threading.Thread(target=self._server.run, name="gmmfast-web-server", daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, and delete the app's folders if the app was made here."""
        _shutdown(self._server)
        self._thread.join(timeout=10)
        if self._own:
            close_app(self.app)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""The gmmfast web app: segmentation, GrabCut and background subtraction in the browser.

Start it with ``gmmfast serve`` (needs the ``web`` extra: ``pip install
'gmmfast[web]'``), or build the WSGI application yourself::

    from gmmfast.web import create_app
    app = create_app(max_upload_mb=20)      # a Flask app; serve it with waitress, gunicorn...

The pages call a small JSON/HTTP API (``POST /api/segment`` ...) that
scripts can use too; see the README and :mod:`gmmfast.web._routes`.
"""

from __future__ import annotations

from ._app import WebConfig, close_app, create_app
from ._server import ServerThread, serve

__all__ = ["WebConfig", "create_app", "close_app", "serve", "ServerThread"]

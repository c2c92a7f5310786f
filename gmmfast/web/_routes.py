"""Routes: the three pages and the JSON/HTTP API behind them.

API (every answer is JSON unless the client asks for HTML, as a plain form does):

* ``POST /api/<kind>`` -- upload (``kind`` is segment, cutout or background;
  the file field is ``image``, or ``video`` for background) with the run's
  parameters; waits for the run (at most ``?wait=`` seconds) and answers 200
  with its result, 202 while it still runs, 422 when it failed.
* ``POST /api/<kind>/<job>/runs`` -- a new run on the same upload (new K, a
  box and strokes, another method), same answers.
* ``GET /api/<kind>/<job>`` -- the upload and its latest run;
  ``GET /api/<kind>/<job>/runs/<n>[?wait=s]`` -- one run (status, progress, result).
* ``GET /api/<kind>/<job>/files/<name>`` -- a preview named in a result;
  ``GET /api/<kind>/<job>/runs/<n>/download/<name>`` -- a full-size file.
* ``GET /api/status`` -- the queue and the limits.
"""

from __future__ import annotations

import math

import re
from dataclasses import dataclass
from typing import Any, Callable

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file,
                   url_for)

from . import _cutout, _segment, _video
from ._jobs import FileRef, Job, QueueFull, Task, UserError
from ._uploads import IMAGE_TYPES_TEXT, VIDEO_TYPES_TEXT, BadUpload

pages = Blueprint("pages", __name__)
api = Blueprint("api", __name__, url_prefix="/api")

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{20,40}$")


@dataclass(frozen=True)
class Kind:
    """How one view's uploads are checked, run and downloaded."""

    field: str                                   # form field of the upload
    accept: Callable                             # (job, data, filename, cfg) -> None
    parse: Callable[[Any, Job | None], dict]     # (form or JSON, job) -> run parameters
    run: Callable                                # (job, task, cfg) -> result dict
    download: Callable                           # (job, run number, name, cfg) -> private or public key
    fields: tuple[str, ...]                      # what a JSON body may hold (a misspelt field is refused)


def _over_latest(body, job: Job | None) -> dict:
    """A re-run's fields over the latest run's parameters: a field left out keeps its value.

    (A cut-out's re-run is a new drawing, so cut-outs do not use this.)
    """
    if job is None or not job.tasks:
        return body
    return {**job.tasks[max(job.tasks)].params, **dict(body.items())}


#: How a form's yes/no field may be written (HTML checkboxes send 'on').
FORM_FLAGS = {"true": True, "1": True, "on": True, "yes": True, "false": False, "0": False, "off": False,
              "no": False, "": False}


def _cutout_params(body, job: Job | None) -> dict:
    if job is None or not body.get("rect"):
        return {"prepare": True}
    return _cutout.parse_params(_cutout_body(body), job.info["work_width"], job.info["work_height"])


def _cutout_body(body) -> dict:
    """A cut-out request's parameters from JSON, or from a form (rect as 'x,y,w,h', strokes as JSON)."""
    import json

    from werkzeug.datastructures import MultiDict

    if not isinstance(body, MultiDict):  # a JSON object already
        return body

    out: dict = {}
    rect = body.get("rect")
    if rect:
        out["rect"] = [v for v in str(rect).replace(" ", "").split(",")]
    try:
        out["strokes"] = json.loads(body.get("strokes") or "[]")
        if "max_iter" in body:
            out["max_iter"] = int(body["max_iter"])
    except ValueError:
        raise UserError("strokes must be a JSON list and max_iter a whole number.") from None
    if "box_prior" in body:  # a ticked checkbox sends 'on'; any other word is left for parse_params to refuse
        flag = str(body["box_prior"]).strip().lower()
        out["box_prior"] = FORM_FLAGS.get(flag, flag)
    return out


def _cutout_run(job, task, cfg):
    return _cutout.prepare(job, task, cfg) if task.params.get("prepare") else _cutout.run(job, task, cfg)


KINDS = {
    "segment": Kind("image", _segment.accept_upload, lambda body, job: _segment.parse_params(_over_latest(body, job)),
                    _segment.run, _segment.build_download, ("k", "features", "smoothing")),
    "cutout": Kind("image", _cutout.accept_upload, _cutout_params, _cutout_run, _cutout.build_download,
                   ("rect", "strokes", "max_iter", "box_prior")),
    "background": Kind("video", _video.accept_upload,
                       lambda body, job: _video.parse_params(_over_latest(body, job)),
                       _video.run, lambda job, n, name, cfg: _video.download_key(job, n, name), ("method",)),
}


def _state():
    return current_app.extensions["gmmfast"]


def wants_html() -> bool:
    """True when the client prefers an HTML page to JSON (a browser's plain form post or address bar)."""
    if not request.path.startswith("/api/"):
        return True
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def error_response(status: int, message: str):
    """An error as a page (for people) or as JSON ``{"error": message}`` (for scripts)."""
    if wants_html():
        body = render_template("error.html", status=status, message=message)
        return current_app.response_class(body, status=status, mimetype="text/html")
    response = jsonify(error=message, status=status)
    response.status_code = status
    return response


# --------------------------------------------------------------------------- pages


def _page(kind: str, job_id: str | None):
    if job_id is not None and (not _JOB_ID.match(job_id) or _state().store.get(job_id, kind) is None):
        minutes = _state().config.job_ttl / 60
        return error_response(404, f"This upload is no longer on the server (uploads are deleted "
                                   f"{minutes:g} minutes after their last use). Please upload it again.")
    cfg = _state().config
    return render_template(f"{kind}.html", view=kind, job_id=job_id or "", limits=cfg.limits(),
                           image_types=IMAGE_TYPES_TEXT, video_types=VIDEO_TYPES_TEXT,
                           features=_segment.FEATURES, methods=_video.METHODS, max_k=_segment.MAX_K,
                           auto_k=_segment.AUTO_K_RULE)


@pages.get("/")
@pages.get("/segment")
@pages.get("/segment/<job_id>")
def segment_page(job_id: str | None = None):
    return _page("segment", job_id)


@pages.get("/cutout")
@pages.get("/cutout/<job_id>")
def cutout_page(job_id: str | None = None):
    return _page("cutout", job_id)


@pages.get("/background")
@pages.get("/background/<job_id>")
def background_page(job_id: str | None = None):
    return _page("background", job_id)


# --------------------------------------------------------------------------- API


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        abort(404)
    return KINDS[kind]


def _job(kind: str, job_id: str) -> Job:
    job = _state().store.get(job_id, kind) if _JOB_ID.match(job_id) else None
    if job is None:
        abort(404)
    return job


def _body(kind: str):
    """Run parameters: a JSON object, or the form fields."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise UserError("The request body must be a JSON object.")
        fields = KINDS[kind].fields
        unknown = sorted(str(key)[:30] for key in body if key not in fields)
        if unknown:
            raise UserError(f"Unknown field(s) {', '.join(map(repr, unknown))}; a {kind} run takes "
                            f"{', '.join(fields)}.")
        return body
    return request.form


@api.get("/status")
def status():
    s = _state()
    from .. import __version__

    return jsonify(version=__version__, queue=s.queue.stats(), jobs=len(s.store), limits=s.config.limits())


@api.post("/<kind>")
def upload(kind: str):
    k = _kind(kind)
    s = _state()
    stats = s.queue.stats()
    if stats["waiting"] + stats["running"] >= stats["capacity"]:
        raise QueueFull()  # answered before the upload is even read
    wait = _wait_seconds()
    storage = request.files.get(k.field)
    if storage is None:
        raise BadUpload(f"Choose a file to upload (the form field is '{k.field}').")
    data = storage.read()
    if not data:
        raise BadUpload("The uploaded file is empty.")
    if kind != "cutout":
        k.parse(_body(kind), None)  # bad parameters are refused before anything is stored
    job = s.store.create(kind)
    try:
        k.accept(job, data, storage.filename, s.config)
        task = _submit(job, k, k.parse(_body(kind), job))
    except BaseException:
        s.store.discard(job)
        raise
    return _answer(job, task, wait, created=True)


@api.get("/<kind>")
def upload_page_get(kind: str):
    """An upload address read with GET: 405 for a view's (it takes POST), 404 for anything else
    (an unknown address answered 405, which sent people looking for a method problem)."""
    _kind(kind)
    abort(405, valid_methods=["POST"])


@api.post("/<kind>/<job_id>/runs")
def new_run(kind: str, job_id: str):
    k = _kind(kind)
    job = _job(kind, job_id)
    params = k.parse(_body(kind), job)
    wait = _wait_seconds()
    if kind == "cutout" and params.get("prepare"):
        raise UserError("Draw a box around the object first (rect must be [x, y, width, height]).")
    _state().queue.cancel_waiting(job)  # only the newest run matters to the page
    return _answer(job, _submit(job, k, params), wait)


def _submit(job: Job, k: Kind, params: dict) -> Task:
    cfg = _state().config
    task = job.new_task(params)
    try:
        _state().queue.submit(task, lambda t: k.run(job, t, cfg))
    except BaseException:
        job.tasks.pop(task.number, None)
        raise
    _state().store.trim_caches(int(cfg.cache_mb * (1 << 20)))
    return task


def _wait_seconds() -> float:
    """``?wait=`` in seconds, at most the server's limit (which a larger value gets)."""
    limit = _state().config.wait_seconds
    try:
        wait = float(request.args.get("wait", limit))
    except ValueError:
        wait = math.nan
    if not wait >= 0.0:     # also NaN, which min() would pass through to the wait
        raise UserError(f"wait must be a number of seconds, 0 or more (at most {limit:g} is used).")
    return min(wait, limit)


def _answer(job: Job, task: Task, wait: float, created: bool = False):
    """The answer to a request that started ``task``: its result if it ends within ``wait`` seconds,
    else 202 (the wait is read before the task is submitted, so a bad one starts nothing)."""
    task.wait(wait)
    if wants_html():
        return redirect(url_for("pages." + f"{job.kind}_page", job_id=job.id), code=303)
    response = jsonify(run_json(job, task))
    response.status_code = {"done": 201 if created else 200, "error": 422, "cancelled": 409}.get(task.status, 202)
    response.headers["Location"] = url_for("api.run", kind=job.kind, job_id=job.id, number=task.number)
    return response


@api.get("/<kind>/<job_id>")
def job_info(kind: str, job_id: str):
    job = _job(kind, job_id)
    latest = max(job.tasks, default=None)
    return jsonify(job=job.id, kind=job.kind, info=job.info,
                   page=url_for(f"pages.{kind}_page", job_id=job.id),
                   runs=[{"run": n, "status": t.status, "params": t.params} for n, t in sorted(job.tasks.items())],
                   latest=run_json(job, job.tasks[latest]) if latest is not None else None)


@api.get("/<kind>/<job_id>/runs/<int:number>")
def run(kind: str, job_id: str, number: int):
    job = _job(kind, job_id)
    task = job.tasks.get(number) or abort(404)
    if "wait" in request.args:
        task.wait(_wait_seconds())
    return jsonify(run_json(job, task))


def _offered_files(job: Job, task: Task) -> list[str]:
    """The full-size files a finished run offers for download (a segmentation also as files.zip)."""
    return list(task.result.get("downloads", [])) + (["files.zip"] if job.kind == "segment" else [])


def run_json(job: Job, task: Task) -> dict:
    """A run as the API shows it, with its files as URLs."""
    out = {"job": job.id, "kind": job.kind, "run": task.number, "status": task.status,
           "progress": round(task.progress, 3), "message": task.message, "params": task.params,
           "info": job.info, "error": task.error,
           "url": url_for("api.run", kind=job.kind, job_id=job.id, number=task.number),
           "page": url_for(f"pages.{job.kind}_page", job_id=job.id)}
    if task.status == "done" and isinstance(task.result, dict):
        result = _urls(job, task.result)
        result["downloads"] = {name: url_for("api.download", kind=job.kind, job_id=job.id, number=task.number,
                                             name=name) for name in _offered_files(job, task)}
        out["result"] = result
    return out


def _urls(job: Job, value):
    if isinstance(value, FileRef):
        return url_for("api.job_file", kind=job.kind, job_id=job.id, name=str(value))
    if isinstance(value, dict):
        return {k: _urls(job, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_urls(job, v) for v in value]
    return value


@api.get("/<kind>/<job_id>/files/<path:name>")
def job_file(kind: str, job_id: str, name: str):
    job = _job(kind, job_id)
    path = job.files.get(name)  # only names the server registered; never a path built from the request
    if path is None:
        abort(404)
    response = send_file(path, max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@api.get("/<kind>/<job_id>/runs/<int:number>/download/<name>")
def download(kind: str, job_id: str, number: int, name: str):
    k = _kind(kind)
    job = _job(kind, job_id)
    task = job.tasks.get(number)
    if task is None or task.status != "done":
        abort(404)
    offered = _offered_files(job, task)
    if name not in offered:
        return error_response(404, f"Run {number} has no file {name[:60]!r}; it offers {', '.join(offered)}.")
    cfg = _state().config
    if kind == "background":
        key = k.download(job, number, name, cfg)
        return send_file(job.files[key], as_attachment=True, download_name=name)
    holder: dict = {}
    builder = Task(0, "download", {"name": name})
    _state().queue.submit(builder, lambda t: holder.setdefault("key", k.download(job, number, name, cfg)))
    if not builder.wait(cfg.wait_seconds):
        return error_response(503, "Preparing the download takes too long right now; please try again.")
    if builder.status != "done":
        return error_response(400 if builder.error else 500, builder.error or "The download failed.")
    # every run has a files.zip: saved under that one name, a second run's replaced the first's (or was
    # not saved: curl -OJ refuses to overwrite)
    saved_as = f"{job.info['name']}_run{number}_files.zip" if name == "files.zip" else name
    return send_file(job.private[holder["key"]], as_attachment=True, download_name=saved_as)

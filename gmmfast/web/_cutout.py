"""The Cut out view's work: GrabCut from a box and brush strokes.

Each run calls :func:`gmmfast.grabcut` afresh with a mask built from what the
user drew (inside the box 'probably foreground', outside it 'background',
foreground strokes 'foreground', background strokes 'background'); nothing
of a previous run is carried over, so a run depends only on the drawing.
Images above ``cutout_max_pixels`` are cut out at a reduced working size
while the user draws (coordinates sent by the page are in working pixels),
and at full size from the same drawing when the results are downloaded.

``box_prior`` (the page's "box prior" switch) needs no ``rect`` beside the
mask: the library's box-tightness check measures the bounding box of the
pixels the cut may change, which for this mask is the drawn box (less any
strokes along its edges), the same box ``rect`` would give.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from ._images import as_display, display_alpha, encode_jpeg, encode_png, preview_factor, reduce_image
from ._jobs import FileRef, Job, Task, UserError
from ._uploads import BadUpload, check_image_bytes, decode_image, safe_stem

# OpenCV's mask values, which gmmfast.grabcut takes
BGD, FGD, PR_BGD, PR_FGD = 0, 1, 2, 3
#: Limits on what one run may send (a drawing, not a data set).
MAX_STROKES = 500
MAX_POINTS = 20000
MAX_BRUSH = 200
#: Shortest side, in pixels of the page's preview, an image needs for a box to be drawn on it (the page
#: ignores drags under 4 pixels, and a box needs room for background around it).
MIN_PREVIEW_SIDE = 16


def working_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) GrabCut works at: the image's, or scaled down to about ``max_pixels``."""
    if width * height <= max_pixels:
        return width, height
    scale = (max_pixels / float(width * height)) ** 0.5
    return max(1, int(width * scale)), max(1, int(height * scale))


def accept_upload(job: Job, data: bytes, filename: str | None, cfg) -> None:
    """Check an uploaded image's header and keep it in ``job`` (decoded by the first run)."""
    header = check_image_bytes(data, cfg.max_image_pixels)
    job.add_file("upload", data, private=True)
    work_w, work_h = working_size(header.width, header.height, cfg.cutout_max_pixels)
    f = preview_factor(work_h, work_w, cfg.preview_side)
    if min(-(-work_w // f), -(-work_h // f)) < MIN_PREVIEW_SIDE:
        raise BadUpload(f"This image is {header.width}x{header.height} pixels: too small or too thin to draw a box "
                        f"on. Cut-outs need at least {MIN_PREVIEW_SIDE} pixels on the short side as shown "
                        "(crop or enlarge it first).")
    job.info.update(name=safe_stem(filename), format=header.format, width=header.width, height=header.height,
                    work_width=work_w, work_height=work_h, reduced=(work_w, work_h) != (header.width, header.height),
                    preview_width=-(-work_w // f), preview_height=-(-work_h // f), preview_factor=f)


def work_image(job: Job, cfg) -> np.ndarray:
    """The image GrabCut works on (RGB uint8 at the working size), decoded on first use."""
    return _work(job, cfg)[0]


def work_alpha(job: Job, cfg) -> np.ndarray | None:
    """The upload's own transparency at the working size (uint8), or None for an opaque image format."""
    return _work(job, cfg)[1]


def _work(job: Job, cfg) -> tuple[np.ndarray, np.ndarray | None]:
    with job.lock:
        work = job.cache.get("image")     # (RGB, alpha), cached together
        if work is None:
            work = _decode_work_image(job, cfg)
            job.cache_put("image", work, work[0].nbytes + (0 if work[1] is None else work[1].nbytes))
    return work


def _decode_work_image(job: Job, cfg) -> tuple[np.ndarray, np.ndarray | None]:
    image, _ = decode_image(job.private["upload"].read_bytes(), cfg.max_image_pixels)
    work, alpha = _rgb(image), display_alpha(image)
    size = (job.info["work_width"], job.info["work_height"])
    if size != (work.shape[1], work.shape[0]):
        from PIL import Image

        def resized(a):
            return np.asarray(Image.fromarray(a).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))

        work, alpha = resized(work), None if alpha is None else resized(alpha)
    if "original.jpg" not in job.files:
        job.add_file("original.jpg", encode_jpeg(reduce_image(work, job.info["preview_factor"])))
    return work, alpha


def _rgb(image: np.ndarray) -> np.ndarray:
    """uint8 RGB of a decoded upload (grey repeated, alpha dropped)."""
    work = as_display(image)
    return np.repeat(work[:, :, None], 3, axis=2) if work.ndim == 2 else work


def _cutout_alpha(fg: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """A cut-out's alpha: 0 off the foreground, and on it the image's own transparency (255 if none)."""
    out = fg.view(np.uint8) * np.uint8(255)
    return out if alpha is None else np.minimum(out, alpha)


def prepare(job: Job, task: Task, cfg) -> dict:
    """The upload's first run when no box was sent: decode it and make the preview the page draws on."""
    work_image(job, cfg)
    return {"original": FileRef("original.jpg")}


def parse_params(body: Mapping[str, Any], width: int, height: int) -> dict:
    """The box, strokes and options of a run, checked against the working size; raises UserError."""
    rect = body.get("rect")
    if not isinstance(rect, (list, tuple)) or len(rect) != 4:
        raise UserError("Draw a box around the object first (rect must be [x, y, width, height]).")
    try:
        x, y, w, h = (int(round(float(v))) for v in rect)
    except (TypeError, ValueError, OverflowError):      # (OverflowError: infinity, 1e400)
        raise UserError("The box must be four numbers [x, y, width, height].") from None
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise UserError("The box is too small or outside the image: draw it around the object.")
    if x1 - x0 >= width and y1 - y0 >= height:
        raise UserError("The box covers the whole image: leave some background outside it.")
    strokes = _parse_strokes(body.get("strokes") or [])
    max_iter = body.get("max_iter", 5)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or not 1 <= max_iter <= 20:
        raise UserError("max_iter must be a whole number from 1 to 20.")
    box_prior = body.get("box_prior", False)
    if not isinstance(box_prior, bool):
        raise UserError("box_prior must be true or false.")
    return {"rect": [x0, y0, x1 - x0, y1 - y0], "strokes": strokes, "max_iter": max_iter, "box_prior": box_prior}


def _parse_strokes(strokes: Any) -> list[dict]:
    if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
        raise UserError(f"strokes must be a list of at most {MAX_STROKES} strokes.")
    out, n_points = [], 0
    for s in strokes:
        if not isinstance(s, dict) or s.get("label") not in ("fg", "bg"):
            raise UserError("Each stroke needs a label 'fg' (foreground) or 'bg' (background).")
        try:
            radius = float(s.get("radius", 5))
            points = [(float(p[0]), float(p[1])) for p in s.get("points", [])]
        except (TypeError, ValueError, IndexError, KeyError):
            raise UserError("Each stroke needs a radius and a list of [x, y] points.") from None
        if not (0.5 <= radius <= MAX_BRUSH) or not points or not all(np.isfinite(points).ravel()):
            raise UserError(f"A stroke needs at least one point and a radius from 0.5 to {MAX_BRUSH}.")
        n_points += len(points)
        if n_points > MAX_POINTS:
            raise UserError(f"Too many stroke points (at most {MAX_POINTS}); clear some strokes.")
        out.append({"label": s["label"], "radius": radius, "points": points})
    return out


def build_mask(shape: tuple[int, int], rect, strokes) -> np.ndarray:
    """The initial GrabCut mask: box probably foreground, outside background, strokes sure."""
    from PIL import Image, ImageDraw

    height, width = shape
    x, y, w, h = rect
    mask = np.full((height, width), BGD, dtype=np.uint8)
    mask[y:y + h, x:x + w] = PR_FGD
    if strokes:
        img = Image.fromarray(mask)
        draw = ImageDraw.Draw(img)
        for s in strokes:
            value = FGD if s["label"] == "fg" else BGD
            r = s["radius"]
            if len(s["points"]) > 1:
                draw.line(s["points"], fill=value, width=max(1, int(round(2 * r))), joint="curve")
            for px, py in s["points"]:
                draw.ellipse((px - r, py - r, px + r, py + r), fill=value)
        mask = np.asarray(img).copy()
    return mask


def _cut(image: np.ndarray, mask: np.ndarray, p: Mapping[str, Any]):
    """The library's GrabCut of ``image`` from ``mask`` with a run's options (``parse_params``)."""
    from .._grabcut import grabcut     # loaded on first use, as the other views load the library

    labels = mask & 1                  # OpenCV's values: odd ones are (probable) foreground
    if not labels.any():
        raise UserError("Everything is marked to remove: keep part of the object inside the box unpainted, "
                        "or paint it with Keep.")
    if labels.all():
        raise UserError("Everything is marked to keep: leave some background, or paint it with Remove.")
    return grabcut(image, mask=mask, max_iter=p["max_iter"], box_prior=p["box_prior"])


def run(job: Job, task: Task, cfg) -> dict:
    """Cut out the object in the task's box; returns the run's result (previews, foreground share)."""
    p = task.params
    image = work_image(job, cfg)
    mask = build_mask(image.shape[:2], p["rect"], p["strokes"])
    task.report(0.1, "cutting out")
    t0 = time.perf_counter()
    result = _cut(image, mask, p)
    t_cut = time.perf_counter() - t0
    fg = result.foreground
    with job.lock:
        job.cache_put("cut", (task.number, fg), fg.nbytes)
    f = preview_factor(fg.shape[0], fg.shape[1], cfg.preview_side)
    small = fg[::f, ::f]
    alpha = work_alpha(job, cfg)
    rgba = np.dstack([reduce_image(image, f), _cutout_alpha(small, None if alpha is None else alpha[::f, ::f])])
    prefix = f"r{task.number}/"
    cutout = job.add_file(prefix + "cutout.png", encode_png(rgba))
    mask_ref = job.add_file(prefix + "mask.png", encode_png(small))
    return {"foreground_fraction": float(fg.mean()), "rect": p["rect"], "n_strokes": len(p["strokes"]),
            "original": FileRef("original.jpg"), "cutout": cutout, "mask": mask_ref,
            "timings": {"grabcut": round(t_cut, 4), "previews": round(time.perf_counter() - t0 - t_cut, 4)},
            "downloads": [f"{job.info['name']}_cutout.png", f"{job.info['name']}_mask.png"]}


def build_download(job: Job, task_number: int, name: str, cfg) -> str:
    """Encode the cut-out (RGBA) or mask (0/255) of run ``task_number`` at the image's full size; returns its key.

    An image cut out at a reduced working size is cut again at full size
    from the same box and strokes (scaled), so downloads always have the
    uploaded image's pixels.
    """
    stem = job.info["name"]
    if name not in (f"{stem}_cutout.png", f"{stem}_mask.png"):
        raise UserError(f"This run has no file {name[:60]!r}.")
    key = f"r{task_number}/full/{name}"
    if key in job.private:
        return key
    image, alpha, fg = _full_size_cut(job, task_number, cfg)
    if name.endswith("_cutout.png"):
        data = encode_png(np.dstack([image, _cutout_alpha(fg, alpha)]))
    else:
        data = encode_png(fg.view(np.uint8) * np.uint8(255))
    job.add_file(key, data, private=True)
    return key


def _full_size_cut(job: Job, task_number: int, cfg) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(RGB image, its own alpha or None, foreground) of run ``task_number`` at the uploaded image's size."""
    p = job.tasks[task_number].params
    cached = job.cache.get("cut")
    if not job.info["reduced"]:
        image, alpha = _work(job, cfg)
        if cached is not None and cached[0] == task_number:
            return image, alpha, cached[1]
        return image, alpha, _cut(image, build_mask(image.shape[:2], p["rect"], p["strokes"]), p).foreground
    decoded = decode_image(job.private["upload"].read_bytes(), cfg.max_image_pixels)[0]
    image, alpha = _rgb(decoded), display_alpha(decoded)
    sx = image.shape[1] / job.info["work_width"]
    sy = image.shape[0] / job.info["work_height"]
    x, y, w, h = p["rect"]
    rect = [int(round(x * sx)), int(round(y * sy)), int(round(w * sx)), int(round(h * sy))]
    strokes = [{"label": st["label"], "radius": st["radius"] * (sx + sy) / 2,
                "points": [(px * sx, py * sy) for px, py in st["points"]]} for st in p["strokes"]]
    mask = build_mask(image.shape[:2], rect, strokes)
    return image, alpha, _cut(image, mask, p).foreground

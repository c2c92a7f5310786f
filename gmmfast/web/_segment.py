"""The Segment view's work: upload, runs of :func:`gmmfast.segment`, downloads.

An upload is decoded once and kept in memory (within the server's cache
budget) so that changing K or the colour space re-runs on it at once.  A run
returns what the page shows -- previews of the original, the segmented
image, the binary map and one mask per component, with each component's
weight and colour -- and nothing at full resolution: the full-size files
(the same ones ``gmmfast segment -o`` writes) are encoded when downloaded.
"""

from __future__ import annotations

import io
import re
import threading
import time
import zipfile
from typing import Any, Mapping

import numpy as np

from .._auto_k import MAX_OVERLAP, MIN_SHARE, PATIENCE
from ._images import as_display, encode_jpeg, encode_png, hex_colour, preview_factor, reduce_image, subsample
from ._jobs import FileRef, Job, Task, UserError
from ._uploads import check_image_bytes, decode_image, safe_stem

#: Largest K the page offers.
MAX_K = 16
# The rule 'auto' applies (the library's, so the page's explanation cannot drift from it).
AUTO_K_RULE = {"max_overlap": f"{MAX_OVERLAP:g}", "min_share_percent": f"{100 * MIN_SHARE:g}", "patience": PATIENCE}
#: Largest smoothing weight the page offers.
MAX_SMOOTHING = 10.0
#: Colour spaces offered (gmmfast.segment's ``features``), with their labels.
FEATURES = {"rgb": "RGB", "lab": "CIE Lab", "gray": "Grey level", "rgbxy": "RGB + position",
            "labxy": "Lab + position"}


def parse_params(form: Mapping[str, Any]) -> dict:
    """K, colour space and smoothing from a form or JSON body, checked; raises UserError."""
    raw = form.get("k", "3")
    if isinstance(raw, float) and raw.is_integer():      # JSON 3.0 is the number 3
        raw = int(raw)
    k_text = str(raw).strip()
    if k_text.lower() == "auto":
        k: int | str = "auto"
    elif re.fullmatch(r"[0-9]{1,6}", k_text):            # ASCII digits only (int() takes any script's)
        k = int(k_text)
    else:
        raise UserError(f"K must be a whole number from 1 to {MAX_K} or 'auto', got {k_text[:20]!r}.")
    if k != "auto":
        if not 1 <= k <= MAX_K:
            raise UserError(f"K must be from 1 to {MAX_K} (or 'auto'), got {k}.")
    features = str(form.get("features", "rgb")).strip().lower()
    if features not in FEATURES:
        raise UserError(f"Unknown colour space {features[:20]!r}; choose one of {', '.join(FEATURES)}.")
    try:
        if isinstance(form.get("smoothing"), bool):      # JSON true is not 1.0
            raise TypeError
        smoothing = float(form.get("smoothing", 0) or 0)
    except (TypeError, ValueError):
        raise UserError("Smoothing must be a number from 0 to 10.") from None
    if not 0.0 <= smoothing <= MAX_SMOOTHING:
        raise UserError(f"Smoothing must be from 0 to {MAX_SMOOTHING:g}, got {smoothing:g}.")
    return {"k": k, "features": features, "smoothing": smoothing}


def accept_upload(job: Job, data: bytes, filename: str | None, cfg) -> None:
    """Check an uploaded image's header and keep it in ``job``; raises BadUpload/TooLarge.

    The pixels are decoded by the first run, in a worker of the bounded queue.
    """
    header = check_image_bytes(data, cfg.max_image_pixels)
    job.add_file("upload", data, private=True)
    job.info.update(name=safe_stem(filename), format=header.format, width=header.width, height=header.height,
                    frames=header.frames)


def job_image(job: Job, cfg) -> np.ndarray:
    """The job's decoded image (decoded on first use, and again if the cache was trimmed)."""
    with job.lock:
        image = job.cache.get("image")
        if image is None:
            t0 = time.perf_counter()
            image, _ = decode_image(job.private["upload"].read_bytes(), cfg.max_image_pixels)
            job.info["decode_seconds"] = round(time.perf_counter() - t0, 4)
            job.cache_put("image", image, image.nbytes)
    return image


def run(job: Job, task: Task, cfg) -> dict:
    """Segment the job's image with the task's parameters; returns the run's result (previews, components)."""
    from .._segmentation import segment

    p = task.params
    image = job_image(job, cfg)
    task.report(0.05, "segmenting")
    # the first run also makes the original's preview, in a thread beside the segmentation
    # (Pillow releases the GIL while it shrinks and encodes)
    side = threading.Thread(target=_original_preview, args=(job, image, cfg)) if "original.jpg" not in job.files \
        else None
    if side is not None:
        side.start()
    t0 = time.perf_counter()
    try:
        seg = segment(image, p["k"], features=p["features"], smoothing=p["smoothing"])
    finally:
        if side is not None:
            side.join()
    t_segment = time.perf_counter() - t0
    with job.lock:
        job.cache_put("seg", (task.number, seg), seg.labels.nbytes)
    task.report(0.8, "making previews")
    result, timings = _previews(job, task.number, seg, image, cfg)
    timings = {k: round(v, 4) for k, v in {"segment": t_segment, **seg.timings, **timings}.items()}
    result.update(n_components=seg.n_components, auto=p["k"] == "auto", timings=timings,
                  features_used=_features_label(seg, p["features"]),
                  criterion=_criterion_rows(seg.criterion), notes=_notes(seg, p["k"], job.info["frames"]),
                  downloads=output_names(job.info["name"], seg.n_components))
    return result


def _features_label(seg, features: str) -> str:
    """The colour space as the page names it, saying so when a grey image had only its grey level
    (a grey upload segmented in 'RGB' is segmented on one intensity, as the library does)."""
    used = seg.features_used
    if used.startswith(("gray", "L*")) and not features.startswith("gray"):
        return f"{FEATURES[features]} \u2192 {used.replace('gray', 'grey')} (the image is grey)"   # (page's English)
    return FEATURES[features]


def _criterion_rows(criterion: Mapping | None) -> dict | None:
    """The automatic choice of K as JSON: per K fitted, its largest component overlap, smallest share, BIC
    and whether it counted as distinct (a non-finite number becomes null: JSON has no Infinity)."""
    if not criterion:
        return None

    def number(v: float, digits: int) -> float | None:
        return round(float(v), digits) if np.isfinite(v) else None

    return {str(k): {"overlap": number(r.overlap, 4), "min_share": number(r.min_share, 4),
                     "bic": number(r.bic, 1), "distinct": bool(r.distinct)} for k, r in criterion.items()}


def _notes(seg, k, frames: int) -> list[str]:
    """What the library warns about this result, in the page's words (its warnings go to the
    server log; capturing them here would not be thread-safe, so they are read off the result
    and the upload's header)."""
    from .._segmentation import DEFAULT_K_RANGE, MIN_PIXELS_PER_COMPONENT, most_components, transparent_share

    notes = []
    if frames > 1:
        notes.append(f"The file holds {frames} frames (an animation); its first is segmented. The Background "
                     "view takes it as a video.")
    asked = DEFAULT_K_RANGE[0] if k == "auto" else k
    if seg.n_components < asked:
        what = "the smallest K 'auto' tries" if k == "auto" else str(k)
        notes.append(f"The image has only {seg.n_components} distinct colour(s), so K = {seg.n_components} was "
                     f"used instead of {what}.")
    hidden = transparent_share(seg.image)
    if hidden:
        notes.append(f"{hidden:.0%} of the pixels are (partly) transparent; they are segmented by the colours "
                     "stored under them.")
    if k == "auto":
        most = max(DEFAULT_K_RANGE[0], most_components(seg.shape[0] * seg.shape[1]))
        if most < DEFAULT_K_RANGE[1]:
            notes.append(f"The image is small: K up to {most} could be tried ({MIN_PIXELS_PER_COMPONENT} pixels "
                         "per component).")
    return notes


def output_names(stem: str, n_components: int) -> list[str]:
    """Names of the files ``Segmentation.output_files(stem)`` makes (without computing them)."""
    return [f"{stem}_segmented.png", *(f"{stem}_mask{k}.png" for k in range(n_components)), f"{stem}_binary.png"]


def _original_preview(job: Job, image: np.ndarray, cfg) -> None:
    t0 = time.perf_counter()
    height, width = image.shape[:2]
    job.add_file("original.jpg", encode_jpeg(reduce_image(as_display(image), preview_factor(height, width,
                                                                                           cfg.preview_side))))
    job.info["original_preview_seconds"] = round(time.perf_counter() - t0, 4)


def label_counts(labels: np.ndarray, n_components: int) -> np.ndarray:
    """Pixels of each label (``Segmentation.counts()``), one comparison pass per label.

    np.bincount first widens the uint8 labels to 64-bit integers: on 12
    megapixels K passes over the bytes are faster for the K the page offers.
    """
    return np.array([np.count_nonzero(labels == k) for k in range(n_components)], dtype=np.int64)


def background_label(labels: np.ndarray, counts: np.ndarray) -> int:
    """``Segmentation.background_component()`` from counts already made: most of the border, ties to the larger."""
    border = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    on_border = np.bincount(border, minlength=len(counts))[: len(counts)]
    return int(np.lexsort((counts, on_border))[-1])


def _previews(job: Job, number: int, seg, image: np.ndarray, cfg) -> tuple[dict, dict]:
    """Write the run's preview files into the job; returns (result fields, timings)."""
    t0 = time.perf_counter()
    height, width = seg.shape
    f = preview_factor(height, width, cfg.preview_side)
    original = FileRef("original.jpg")
    labels = subsample(seg.labels, f)
    means = as_display(seg.mean_colours()[None, :, :])[0]          # K x 3 (or K) uint8
    counts = label_counts(seg.labels, seg.n_components)
    background = background_label(seg.labels, counts)
    t_resize = time.perf_counter() - t0
    prefix = f"r{number}/"
    segmented = job.add_file(prefix + "segmented.png", encode_png(means[labels]))
    binary = job.add_file(prefix + "binary.png", encode_png(labels != background))
    components = []
    for k in range(seg.n_components):
        components.append({"label": k, "weight": float(seg.model.weights_[k]),
                           "share": float(counts[k]) / float(height * width), "colour": hex_colour(means[k]),
                           "mask": job.add_file(prefix + f"mask{k}.png", encode_png(labels == k)),
                           "background": k == background})
    t_encode = time.perf_counter() - t0 - t_resize
    result = {"image": {"width": width, "height": height},
              "preview": {"width": labels.shape[1], "height": labels.shape[0], "factor": f},
              "original": original, "segmented": segmented, "binary": binary,
              "background_component": background, "components": components}
    return result, {"preview_resize": t_resize, "preview_encode": t_encode}


def segmentation_of(job: Job, task_number: int, cfg):
    """The Segmentation of run ``task_number``: cached if it is the latest, else computed again.

    Runs are deterministic (``gmmfast.segment``'s fixed seed), so computing
    again gives the same labels.
    """
    from .._segmentation import segment

    cached = job.cache.get("seg")
    if cached is not None and cached[0] == task_number:
        return cached[1]
    p = job.tasks[task_number].params
    return segment(job_image(job, cfg), p["k"], features=p["features"], smoothing=p["smoothing"])


def build_download(job: Job, task_number: int, name: str, cfg) -> str:
    """Encode the full-size file ``name`` ('files.zip' or one of the run's PNGs); returns its private key."""
    key = f"r{task_number}/full/{name}"
    if key in job.private:
        return key
    seg = segmentation_of(job, task_number, cfg)
    files = seg.output_files(job.info["name"])
    if name == "files.zip":
        buf = io.BytesIO()
        # PNGs are compressed already: store them
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for fname, arr in files.items():
                zf.writestr(fname, encode_png(arr))
        job.add_file(key, buf.getvalue(), private=True)
    elif name in files:
        job.add_file(key, encode_png(files[name]), private=True)
    else:
        raise UserError(f"This run has no file {name[:60]!r}.")
    return key

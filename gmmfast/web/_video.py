"""The Background view's work: background subtraction on a short video.

The upload is stored in the job's folder under a name chosen from its
content (the video reader picks its decoder by extension) and read frame by
frame, at most ``max_frames`` frames and ``max_video_pixels`` pixels in all
(the page states both).  Online methods (the recommended pipeline and MOG2)
learn from every frame as it comes and mask it; batch methods (per-pixel
GMM, mean, median) estimate the background from the whole clip and then
mask every frame.  The run reports its progress as it goes.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import numpy as np

from ._images import encode_png, preview_factor
from ._jobs import Job, Task, UserError
from ._uploads import check_video_header, safe_stem, video_suffix

#: Methods offered, with the labels the page shows.
METHODS = {
    "recommended": "Recommended (gmmfast's tuned pipeline)",
    "mog2": "MOG2 (OpenCV defaults, shadows grey)",
    "pixelgmm": "Per-pixel GMM (fitted on the whole clip)",
    "median": "Median background",
    "mean": "Mean background",
}
#: Grey-level distance to the background above which the mean/median methods call a pixel foreground.
THRESHOLD = 30.0
#: Frames per apply_many call of the online methods.
BATCH = 8
#: Longest side of the GIFs shown in the page (larger videos get smaller preview copies).
PREVIEW_SIDE = 640


def parse_params(form: Mapping[str, Any]) -> dict:
    """The method of a run, checked; raises UserError."""
    method = str(form.get("method", "recommended")).strip().lower()
    if method not in METHODS:
        raise UserError(f"Unknown method {method[:20]!r}; choose one of {', '.join(METHODS)}.")
    return {"method": method}


def accept_upload(job: Job, data: bytes, filename: str | None, cfg) -> None:
    """Store an uploaded video after checking its content and declared frame size."""
    suffix = video_suffix(data)
    job.add_file("input" + suffix, data, private=True)
    width, height = check_video_header(job.private["input" + suffix], suffix, cfg.max_frame_pixels)
    job.info.update(name=safe_stem(filename, "video"), input="input" + suffix, width=width, height=height,
                    bytes=len(data))


def frame_budget(width: int, height: int, cfg) -> int:
    """Frames of this size the server processes: ``max_frames``, fewer for large frames."""
    return max(1, min(cfg.max_frames, cfg.max_video_pixels // max(1, width * height)))


def read_frames(job: Job, task: Task, cfg) -> tuple[np.ndarray, float, int | None]:
    """(frames T x H x W x 3 uint8, fps, frames the file declares) of the job's video, within the budget."""
    from ..video import VideoReader, _EndedEarly

    budget = frame_budget(job.info["width"], job.info["height"], cfg)
    frames = []
    path = job.private[job.info["input"]]
    try:
        with VideoReader(path) as reader:  # (max_frames would hide the true count)
            declared = reader.n_frames
            for frame in reader:
                if len(frames) == budget:
                    break
                if frame.shape[:2] != (job.info["height"], job.info["width"]):
                    raise UserError("The video's frames change size; cannot process it.")
                frames.append(frame)
                if len(frames) % 10 == 0:
                    task.report(0.2 * len(frames) / min(budget, declared or budget), f"reading frame {len(frames)}")
            fps = reader.fps or 10.0
    except (ValueError, OSError) as exc:
        if isinstance(exc, UserError):
            raise
        if isinstance(exc, _EndedEarly):      # its advice (max_frames=) is the Python API's
            raise UserError(f"The video is damaged after frame {exc.frames_read}: repair it, or upload only "
                            f"its first {exc.frames_read} frames.") from None
        # the reader names the file by its path on the server, which means nothing to the user
        raise UserError(str(exc).replace(repr(str(path)), "the upload").replace(str(path), "the upload")) from None
    if len(frames) < 2:
        raise UserError(f"The video has {len(frames)} frame(s); background subtraction needs at least 2.")
    return np.stack(frames), float(min(max(fps, 0.5), 60.0)), declared


def _online_masks(model, frames: np.ndarray, task: Task) -> np.ndarray:
    masks = np.empty(frames.shape[:3], dtype=np.uint8)
    for start in range(0, len(frames), BATCH):
        m = model.apply_many(frames[start:start + BATCH])
        masks[start:start + BATCH] = m.view(np.uint8) * np.uint8(255) if m.dtype == bool else m
        task.report(0.2 + 0.3 * (start + len(m)) / len(frames), f"frame {start + len(m)} of {len(frames)}")
    return masks


def _batch_masks(frames: np.ndarray, task: Task, mask_of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    masks = np.empty(frames.shape[:3], dtype=np.uint8)
    for i, frame in enumerate(frames):
        m = mask_of(frame)
        masks[i] = m.view(np.uint8) * np.uint8(255) if m.dtype == bool else m
        if i % 5 == 4 or i == len(frames) - 1:
            task.report(0.3 + 0.2 * (i + 1) / len(frames), f"frame {i + 1} of {len(frames)}")
    return masks


#: Frames below which the page notes that the online methods have had little video to learn from.
SHORT_CLIP = 50


def subtract_background(method: str, frames: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """(masks T x H x W uint8 0/255 -- 127 for MOG2's shadows --, background image) of ``frames``."""
    import gmmfast

    if method in ("recommended", "mog2"):
        # 'recommended' is whatever BackgroundSubtractor's default method is (its choices may grow)
        model = gmmfast.BackgroundSubtractor() if method == "recommended" else gmmfast.BackgroundSubtractorMOG2()
        masks = _online_masks(model, frames, task)
        return masks, model.background_image()
    task.report(0.22, "estimating the background")
    if method == "pixelgmm":
        gmm = gmmfast.PixelGMM().fit(frames)
        return _batch_masks(frames, task, gmm.apply), gmm.background_image()
    bg = gmmfast.mean_background(frames) if method == "mean" else gmmfast.median_background(frames)
    return _batch_masks(frames, task, lambda f: gmmfast.subtract(f, bg, THRESHOLD)), bg


def run(job: Job, task: Task, cfg) -> dict:
    """Subtract the background of the job's video with the task's method; returns the run's result."""
    t0 = time.perf_counter()
    task.report(0.0, "reading the video")
    frames, fps, declared = read_frames(job, task, cfg)
    t_read = time.perf_counter()
    masks, background = subtract_background(task.params["method"], frames, task)
    t_model = time.perf_counter()
    files = _write_results(job, task, frames, masks, background, fps)
    t_end = time.perf_counter()
    T, H, W = masks.shape
    notes = []
    if task.params["method"] in ("recommended", "mog2") and T < SHORT_CLIP:
        # measured: a square moving from frame 1 over 3-10 frames gave 0-0.9 % foreground of a true 4.7 %,
        # over 40 frames 1.6 % of 3.9 %; median and pixelgmm found it
        notes.append(f"This method learns the background as the video plays, and the clip has only {T} frames: "
                     "what moves from the first frames can be taken for background. Median or PixelGMM "
                     "estimate the background from all the frames and suit short clips.")
    return {"frames": T, "declared_frames": declared, "width": W, "height": H, "fps": fps, "notes": notes,
            "truncated": T >= frame_budget(W, H, cfg) and (declared is None or declared > T),
            "foreground_fraction": float(np.mean(masks == 255)), **files,
            "timings": {"read": round(t_read - t0, 4), "model": round(t_model - t_read, 4),
                        "encode": round(t_end - t_model, 4)},
            "downloads": [f"{job.info['name']}_{name}" for name in ("background.png", "foreground.gif", "mask.gif")]}


def _write_results(job: Job, task: Task, frames: np.ndarray, masks: np.ndarray, background: np.ndarray,
                   fps: float) -> dict:
    """Write the downloads (full size) and the page's previews; returns the previews' file references.

    Encoding the GIFs (a palette per colour frame) takes longer than the
    model on short clips, so the progress bar moves on per file.
    """
    from ..video import write_video

    prefix = f"r{task.number}/"
    fg = masks == 255
    f = preview_factor(frames.shape[1], frames.shape[2], PREVIEW_SIDE)
    small, small_fg = frames[:, ::f, ::f], fg[:, ::f, ::f]
    gifs = [("foreground", np.where(fg[..., None], frames, np.uint8(0))), ("mask", masks)]
    if f > 1:  # the page shows smaller copies of large videos
        gifs += [("preview_foreground", np.where(small_fg[..., None], small, np.uint8(0))),
                 ("preview_mask", masks[:, ::f, ::f])]
    # the input with the background darkened: what was found, in context
    gifs.append(("overlay", np.where(small_fg[..., None], small, (small * np.float32(0.3)).astype(np.uint8))))
    background = np.clip(np.rint(background), 0, 255).astype(np.uint8)
    out = {"background": job.add_file(prefix + "background.png", encode_png(background))}
    for i, (name, video) in enumerate(gifs):
        task.report(0.5 + 0.5 * i / len(gifs), f"writing {name.replace('preview_', '')}.gif")
        write_video(job.new_path(prefix + name + ".gif"), video, fps)
        out[name.replace("preview_", "")] = job.register(prefix + name + ".gif")  # previews replace the full ones
    return out


def download_key(job: Job, task_number: int, name: str) -> str:
    """The job file behind download ``name`` of run ``task_number`` (the files are made by the run)."""
    stem = job.info["name"] + "_"
    base = name[len(stem):] if name.startswith(stem) else ""
    key = f"r{task_number}/{base}"
    if base not in ("background.png", "foreground.gif", "mask.gif") or key not in job.files:
        raise UserError(f"This run has no file {name[:60]!r}.")
    return key


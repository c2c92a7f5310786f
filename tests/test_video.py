"""Video reading and writing (GIF through Pillow, MP4/AVI through imageio-ffmpeg, folders of images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
from gmmfast.data import sample_clip  # noqa: E402
from gmmfast.video import VideoReader, VideoWriter, iter_frames, read_video, write_video  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SEED = DATA / "seed"


def _palette_frames(n=6, h=20, w=24):
    """RGB frames with few colours (a GIF stores them exactly)."""
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 200, 50], [30, 60, 250], [255, 255, 255]], np.uint8)
    rng = np.random.default_rng(0)
    return colours[rng.integers(0, len(colours), size=(n, h, w))]


# ----------------------------------------------------------------------------- GIF


def test_gif_round_trip_rgb_grey_and_masks(tmp_path):
    rgb = _palette_frames()
    write_video(tmp_path / "a.gif", rgb, fps=12.5)
    back = read_video(tmp_path / "a.gif")
    np.testing.assert_array_equal(back, rgb)

    grey = np.random.default_rng(1).integers(0, 256, size=(5, 16, 17), dtype=np.uint8)
    write_video(tmp_path / "g.gif", grey)
    np.testing.assert_array_equal(read_video(tmp_path / "g.gif", grey=True), grey)

    masks = np.random.default_rng(2).random((4, 9, 10)) > 0.5
    write_video(tmp_path / "m.gif", masks)
    np.testing.assert_array_equal(read_video(tmp_path / "m.gif", grey=True) > 127, masks)

    reader = VideoReader(tmp_path / "a.gif")
    assert reader.n_frames == 6 and reader.frame_shape == (20, 24, 3)
    assert reader.fps == pytest.approx(12.5, rel=0.05)


def test_gif_keeps_identical_consecutive_frames(tmp_path):
    frames = np.zeros((5, 8, 8), np.uint8)
    frames[3, 2, 2] = 255
    write_video(tmp_path / "same.gif", frames)
    back = read_video(tmp_path / "same.gif", grey=True)
    assert back.shape == (5, 8, 8)
    # the corner pixel may differ by one grey level, nothing else
    assert np.abs(back.astype(int) - frames).max() <= 1
    assert back[3, 2, 2] == 255


def test_reads_the_same_pixels_as_imageio(tmp_path):
    iio = pytest.importorskip("imageio.v3")
    frames, _ = sample_clip(n_frames=6, height=48, width=64)
    write_video(tmp_path / "clip.gif", frames)
    ours = read_video(tmp_path / "clip.gif")
    theirs = iio.imread(tmp_path / "clip.gif", index=None)[..., :3]
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.skipif(not (SEED / "traffic.gif").exists(), reason="shared data not present")
def test_traffic_gif_and_avi():
    gif = read_video(SEED / "traffic.gif")
    assert gif.shape == (80, 120, 160, 3) and gif.dtype == np.uint8
    pytest.importorskip("imageio_ffmpeg")
    avi = read_video(SEED / "traffic.avi")
    assert avi.shape == gif.shape
    # the same clip, H.264-compressed: close on average
    assert np.abs(avi.astype(np.int16) - gif).mean() < 8
    grey = read_video(SEED / "traffic.avi", grey=True, max_frames=5)
    assert grey.shape == (5, 120, 160)
    expected = np.rint(avi[:5].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    assert np.abs(grey.astype(np.int16) - expected).max() <= 1


# ----------------------------------------------------------------------------- MP4 / AVI


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_ffmpeg_round_trip(tmp_path, ext):
    pytest.importorskip("imageio_ffmpeg")
    frames, _ = sample_clip(n_frames=12, height=48, width=64)
    path = write_video(tmp_path / f"clip{ext}", frames, fps=10)
    with VideoReader(path) as reader:
        assert reader.fps == pytest.approx(10.0)
        back = np.stack(list(reader))
    assert back.shape == frames.shape
    assert np.abs(back.astype(np.int16) - frames).mean() < 6  # lossy codec


def test_mp4_grey_masks_and_odd_size(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    masks = np.zeros((6, 31, 45), bool)
    masks[:, 8:20, 10:30] = True
    write_video(tmp_path / "mask.mp4", masks)
    back = read_video(tmp_path / "mask.mp4", grey=True)
    assert back.shape == (6, 32, 46)  # padded to even size for H.264
    assert np.mean((back[:, :31, :45] > 127) == masks) > 0.98


def test_iterating_is_lazy_and_bounded(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    frames, _ = sample_clip(n_frames=20, height=48, width=48)
    write_video(tmp_path / "c.mp4", frames)
    reader = iter_frames(tmp_path / "c.mp4", max_frames=7)
    first = next(iter(reader))
    assert first.shape == (48, 48, 3)
    assert read_video(tmp_path / "c.mp4", max_frames=7).shape[0] == 7


# ----------------------------------------------------------------------------- folders


def test_folder_of_images_in_natural_order(tmp_path):
    from gmmfast.io import write_image

    frames = _palette_frames(n=12)
    for i, f in enumerate(frames):
        write_image(tmp_path / f"frame{i}.png", f)
    (tmp_path / "notes.txt").write_text("not an image")
    back = read_video(tmp_path)
    np.testing.assert_array_equal(back, frames)  # frame10 after frame9
    assert VideoReader(tmp_path).n_frames == 12


def test_folder_errors(tmp_path):
    from gmmfast.io import write_image

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        read_video(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    write_image(mixed / "a1.png", np.zeros((4, 5), np.uint8))
    write_image(mixed / "a2.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(ValueError, match="one size"):
        read_video(mixed)


# ----------------------------------------------------------------------------- errors


def test_missing_unreadable_and_empty_videos(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video"):
        VideoReader(tmp_path / "nope.mp4")
    (tmp_path / "bad.gif").write_bytes(b"GIF89a this is not really a gif")
    with pytest.raises(ValueError, match="cannot read"):
        read_video(tmp_path / "bad.gif")
    pytest.importorskip("imageio_ffmpeg")
    (tmp_path / "bad.mp4").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match="cannot read .*bad.mp4"):
        read_video(tmp_path / "bad.mp4")
    # a valid container with no video frames
    import subprocess

    import imageio_ffmpeg

    empty = tmp_path / "empty.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
         "color=black:s=32x32:r=10", "-frames:v", "0", str(empty)],
        check=True,
    )
    with pytest.raises(ValueError, match="no frames"):
        read_video(empty)


def test_writer_errors(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        VideoWriter(tmp_path / "x.xyz")
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "x.gif", fps=0)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "x.gif", [])
    with pytest.raises(ValueError, match="non-empty"):
        write_video(tmp_path / "x.gif", np.zeros((0, 4, 4), np.uint8))
    w = VideoWriter(tmp_path / "y.gif")
    with pytest.raises(TypeError, match="uint8"):
        w.write(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="H x W"):
        w.write(np.zeros((4, 4, 5), np.uint8))
    w.write(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="one shape"):
        w.write(np.zeros((4, 5), np.uint8))
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="max_frames"):
        VideoReader(tmp_path / "y.gif", max_frames=0)


# ----------------------------------------------------------------------------- the built-in clip


def test_sample_clip_is_deterministic_and_has_what_it_says():
    frames, masks = sample_clip()
    again, masks2 = sample_clip()
    np.testing.assert_array_equal(frames, again)
    np.testing.assert_array_equal(masks, masks2)
    assert frames.shape == (80, 120, 160, 3) and frames.dtype == np.uint8
    assert masks.shape == (80, 120, 160) and masks.dtype == bool
    cover = masks.mean((1, 2))
    assert np.all(cover > 0.01) and np.all(cover < 0.2)  # sprites always present, never everywhere
    assert masks.mean(0).max() < 0.3  # no pixel is covered in most frames
    # global brightness change: the background's mean level varies over the clip
    bg_level = np.array([f[~m].mean() for f, m in zip(frames, masks)])
    assert bg_level.max() - bg_level.min() > 10
    # a flickering region: some background pixels jump by tens of grey levels between frames
    still = ~(masks[1:] | masks[:-1])
    jumps = np.abs(np.diff(frames.astype(np.int16).mean(-1), axis=0)) > 30
    assert (jumps & still).any()
    grey, _ = sample_clip(colour=False, n_frames=3)
    assert grey.shape == (3, 120, 160)
    with pytest.raises(ValueError, match="n_frames"):
        sample_clip(n_frames=0)
    with pytest.raises(ValueError, match="height"):
        sample_clip(height=10)

"""Video reading and writing (GIF through Pillow, MP4/AVI through imageio-ffmpeg, folders of images)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
from gmmfast.data import sample_clip  # noqa: E402
from gmmfast.io import read_image, write_image  # noqa: E402
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


def test_folder_order_does_not_depend_on_the_listing(tmp_path):
    # names that natural order ties (the same numbers) come in code-point order
    from gmmfast.io import write_image

    names = ["frame001.png", "Frame2.png", "frame01.png", "frame1.png", "frame2.png", "frame10.png"]
    for i, name in enumerate(names):
        write_image(tmp_path / name, np.full((3, 4), 10 * i, np.uint8))
    got = read_video(tmp_path, grey=True)[:, 0, 0] // 10
    expected = sorted(names, key=lambda n: (int("".join(filter(str.isdigit, n))), n))
    assert [names[i] for i in got] == expected


@pytest.mark.parametrize("kind", ["uint16", "float01", "int32"])
def test_multipage_tiff_pages_are_scaled_like_single_images(tmp_path, kind):
    # a 16-bit or float TIFF stack is a video of the same pixels as the folder of its pages
    # (Pillow's convert("RGB") would clip them to 255)
    from PIL import Image

    rng = np.random.default_rng(1)
    raw = rng.integers(0, 65536, size=(4, 6, 7))
    pages = {"uint16": raw.astype(np.uint16), "float01": (raw / 65535).astype(np.float32),
             "int32": raw.astype(np.int32)}[kind]
    ims = [Image.fromarray(p) for p in pages]
    ims[0].save(tmp_path / "stack.tif", save_all=True, append_images=ims[1:])
    got = read_video(tmp_path / "stack.tif", grey=True)
    assert got.shape == (4, 6, 7)
    if kind == "float01":      # 0..1 onto 0..255, rounded
        np.testing.assert_array_equal(got, np.rint(pages * 255.0).astype(np.uint8))
    else:                      # the top 8 bits, as a 16-bit image is cut everywhere else
        np.testing.assert_array_equal(got, (raw >> 8).astype(np.uint8))


def test_32_bit_pages_past_16_bits_are_refused_not_wrapped(tmp_path):
    from PIL import Image

    from gmmfast.io import read_image

    wide = (np.arange(6 * 8).reshape(6, 8) * 5000).astype(np.int32)     # up to 235,000
    Image.fromarray(wide).save(tmp_path / "one.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "one.tif"), wide)   # kept, not clipped to 65535
    ims = [Image.fromarray(np.zeros((6, 8), np.int32)), Image.fromarray(wide)]
    ims[0].save(tmp_path / "stack.tif", save_all=True, append_images=ims[1:])
    with pytest.raises(ValueError, match="outside 0..65535"):
        read_video(tmp_path / "stack.tif")


def test_multipage_file_with_a_page_of_another_size(tmp_path):
    from PIL import Image

    ims = [Image.fromarray(np.zeros((6, 8), np.uint8))] * 3 + [Image.fromarray(np.zeros((5, 8), np.uint8))]
    ims[0].save(tmp_path / "mixed.tif", save_all=True, append_images=ims[1:])
    with pytest.raises(ValueError, match="frame 4 is 8x5, the first is 8x6"):
        read_video(tmp_path / "mixed.tif")


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
    for quality in (0, 11):            # was imageio-ffmpeg's AssertionError at the first frame
        with pytest.raises(ValueError, match="quality must be between 1 and 10"):
            write_video(tmp_path / "q.mp4", [np.zeros((16, 16), np.uint8)], quality=quality)
    assert not (tmp_path / "q.mp4").exists()
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


# ----------------------------------------------------------------------------- wrong kinds, truncation


@pytest.mark.parametrize("name, content, expected", [
    ("notes.mp4", b"a shopping list\nmilk\n", "is a text file, not a video"),
    ("notes.gif", "caf\u00e9 na\u00efve r\u00e9sum\u00e9\n".encode() * 10, "is a text file, not a video"),
    ("blank.avi", b"", "is an empty file, not a video"),
])
def test_wrong_kind_of_file_is_named_by_its_content(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=expected):
        VideoReader(tmp_path / name)


def test_still_picture_is_not_a_video(tmp_path):
    from gmmfast.io import write_image

    for ext, kind in ((".jpg", "JPEG"), (".png", "PNG"), (".mp4", "PNG")):  # the content decides, not the name
        path = tmp_path / f"still{ext}"
        write_image(tmp_path / f"tmp{'.jpg' if kind == 'JPEG' else '.png'}", np.zeros((8, 8, 3), np.uint8))
        (tmp_path / f"tmp{'.jpg' if kind == 'JPEG' else '.png'}").rename(path)
        with pytest.raises(ValueError, match=f"is a {kind} image, a still picture, not a video"):
            VideoReader(path)


def test_text_file_without_ffmpeg_is_not_reported_as_needing_it(tmp_path, monkeypatch):
    import gmmfast.video as video

    def no_ffmpeg():
        raise ImportError("needs imageio-ffmpeg")

    monkeypatch.setattr(video, "_ffmpeg", no_ffmpeg)
    (tmp_path / "notes.mkv").write_text("hello")
    with pytest.raises(ValueError, match="text file, not a video"):
        VideoReader(tmp_path / "notes.mkv")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="not a video format gmmfast reads without FFmpeg"):
        VideoReader(tmp_path / "blob.bin")
    avi = tmp_path / "real.avi"
    avi.write_bytes(b"RIFF\x00\x01\x00\x00AVI LIST" + bytes(100))
    with pytest.raises(ImportError, match="imageio-ffmpeg"):  # a real video container does need it
        VideoReader(avi)


def test_gif_cut_in_half_says_where_it_ends(tmp_path):
    frames = _palette_frames(n=12, h=40, w=48)
    whole = write_video(tmp_path / "whole.gif", frames)
    cut = tmp_path / "cut.gif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    reader = VideoReader(cut)
    assert reader.truncation is not None and "GIF trailer" in reader.truncation
    got = []
    with pytest.raises(ValueError, match=r"'.*cut.gif' ends after (\d+) frame.*max_frames=\1 ") as info:
        for f in reader:
            got.append(f)
    n = int(str(info.value).split("ends after ")[1].split()[0])
    assert n == len(got) and 0 < n < 12
    np.testing.assert_array_equal(np.stack(got), read_video(whole)[:n])
    assert read_video(cut, max_frames=n).shape[0] == n  # the frames before the damage are readable


@pytest.mark.parametrize("ext", [".avi", ".mp4", ".mkv"])
def test_truncated_ffmpeg_video(tmp_path, ext):
    pytest.importorskip("imageio_ffmpeg")
    frames = np.random.default_rng(0).integers(0, 255, (40, 32, 48, 3), dtype=np.uint8)
    whole = write_video(tmp_path / f"whole{ext}", frames)
    assert VideoReader(whole).truncation is None
    assert read_video(whole).shape[0] == 40
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    try:
        reader = VideoReader(cut)
    except ValueError as exc:  # the header is past the cut (an MP4 whose index is at its end)
        assert "truncated" in str(exc) and "bytes its header declares" in str(exc)
        return
    assert "bytes its header declares" in reader.truncation
    with pytest.raises(ValueError, match=r"ends after \d+ .*max_frames="):
        list(reader)


def test_avi_that_declares_more_frames_than_it_holds(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import struct

    frames = np.random.default_rng(1).integers(0, 255, (20, 32, 48, 3), dtype=np.uint8)
    data = bytearray(write_video(tmp_path / "a.avi", frames).read_bytes())
    assert struct.unpack("<I", data[48:52])[0] == 20  # the header's frame count
    assert VideoReader(tmp_path / "a.avi").n_frames == 20
    data[48:52] = struct.pack("<I", 30)
    (tmp_path / "b.avi").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="ends after 20 of the 30 frames it declares"):
        read_video(tmp_path / "b.avi")
    assert read_video(tmp_path / "b.avi", max_frames=20).shape[0] == 20


# ----------------------------------------------------------------------------- safe writing


@pytest.mark.parametrize("ext", [".gif", ".mp4"])
def test_interrupted_writing_leaves_the_old_file(tmp_path, ext):
    if ext == ".mp4":
        pytest.importorskip("imageio_ffmpeg")
    path = write_video(tmp_path / f"v{ext}", np.zeros((3, 16, 16), np.uint8))
    old = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path) as w:
            for i in range(5):
                w.write(np.full((16, 16), 40 * i, np.uint8))
                assert path.read_bytes() == old  # nothing replaced while writing
            raise KeyboardInterrupt
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left
    write_video(path, np.full((4, 16, 16), 200, np.uint8))
    assert read_video(path, grey=True).shape[0] == 4
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # as open() would create it


def test_interrupted_gif_encoding_leaves_the_old_file(tmp_path, monkeypatch):
    from PIL import Image

    path = write_video(tmp_path / "v.gif", np.zeros((3, 16, 16), np.uint8))
    old = path.read_bytes()
    real_save = Image.Image.save

    def save_then_interrupt(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)  # the whole GIF written ...
        raise KeyboardInterrupt  # ... and Ctrl-C before close() returns

    monkeypatch.setattr(Image.Image, "save", save_then_interrupt)
    w = VideoWriter(path)
    for i in range(5):
        w.write(np.full((16, 16), 40 * i, np.uint8))
    with pytest.raises(KeyboardInterrupt):
        w.close()
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_gif_keeps_frames_equal_after_quantisation(tmp_path):
    # two RGB frames that differ only below the palette's resolution: equal once quantised
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    frames = [a, a, a.copy(), a]
    frames[2][5, 5] ^= 1
    path = write_video(tmp_path / "same.gif", np.stack(frames))
    assert read_video(path).shape[0] == 4


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


@pytest.mark.skipif(sys.platform == "win32", reason="a file size limit needs POSIX resource limits")
def test_an_encode_that_fails_leaves_no_file_and_says_so(tmp_path):
    # on a full disk FFmpeg stopped with "No space left on device", imageio-ffmpeg never looked at
    # its exit status, and the cut-short file was put in place under the final name in silence.
    # Here a file size limit (inherited by FFmpeg) stands in for the full disk.
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")  # noqa: F841
    script = textwrap.dedent(f"""
        import resource, numpy as np, gmmfast
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))
        frames = np.random.default_rng(0).integers(0, 256, (40, 240, 320, 3), dtype=np.uint8)
        try:
            gmmfast.video.write_video({str(tmp_path / "x.mp4")!r}, frames)
        except OSError as exc:
            print("OSError:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "OSError: FFmpeg failed to write" in done.stdout, done.stdout + done.stderr
    assert os.listdir(tmp_path) == []                      # no file, not even the temporary one
    # the disk-full wording when the folder has no room left
    from gmmfast import video

    writer = video.VideoWriter(tmp_path / "y.mp4")
    writer.write(np.zeros((16, 16, 3), np.uint8))
    assert isinstance(writer._proc, subprocess.Popen)     # the exit status can be read (imageio-ffmpeg's local)
    writer.abandon()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(video.shutil, "disk_usage", lambda p: type("U", (), {"free": 0})())
        assert writer._ffmpeg_failed().errno == errno.ENOSPC


def test_an_image_that_would_not_fit_in_memory_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    # with Pillow's limit lifted, a small file declaring billions of pixels took all the memory and the
    # system killed the process; a 2 MB budget stands in for the machine's free memory
    from gmmfast import _memory

    path = write_image(tmp_path / "photo.png", np.zeros((600, 800, 3), np.uint8))
    monkeypatch.setattr(_memory, "available_memory", lambda: 2_000_000)
    # (the message was wrapped as "a damaged or truncated PNG image")
    with pytest.raises(ValueError, match=r"^'[^']*photo.png' is 800x600 pixels: reading it needs about 0\.0 GB"):
        read_image(path)
    monkeypatch.setattr(_memory, "available_memory", lambda: 20_000_000)
    assert read_image(path).shape == (600, 800, 3)


def test_a_16_bit_colour_png_is_read_at_8_bits_with_a_warning(tmp_path):
    # Pillow decodes it to 8 bits per channel, and the precision went without a word
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rgb = np.random.default_rng(0).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rgb)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 6, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    (tmp_path / "deep.png").write_bytes(png)
    with pytest.warns(UserWarning, match="16 bits per colour channel; it is read at 8"):
        image = read_image(tmp_path / "deep.png")
    np.testing.assert_array_equal(image, (rgb >> 8).astype(np.uint8))     # Pillow keeps the high byte


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [20_000, 12_000])      # past Pillow's own limit; within it
def test_an_animation_declaring_a_huge_screen_is_refused_by_name(tmp_path, gif_bomb, monkeypatch, side):
    # Pillow's DecompressionBombError escaped as a "please report it" internal error of the CLI
    path = tmp_path / "bomb.gif"
    path.write_bytes(gif_bomb(side, side))
    if side < 20_000:          # within Pillow's limit: refused by the free memory, before decoding
        monkeypatch.setattr("gmmfast._memory.available_memory", lambda: 100_000_000)
    with pytest.raises(ValueError, match=f"bomb.gif.*{side}|{side * side}") as exc:
        read_video(path)
    assert "Resize the image" in str(exc.value) or "resize the image" in str(exc.value)


@pytest.mark.timeout(20)      # the bug was a hang
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_refused_by_name_not_read(tmp_path):
    # bgsub <(cat clip.gif) said only "File or stream is not seekable"; a named pipe with no
    # writer blocked read_image and read_video for ever
    from gmmfast.io import read_image

    fifo = tmp_path / "pipe.gif"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="pipe.gif' is not a file or a folder .*save the video to a file"):
        read_video(fifo)
    with pytest.raises(ValueError, match="pipe.gif' is not a file .*save the image to a file"):
        read_image(fifo)


def test_a_link_to_nothing_where_a_folder_is_to_be_is_named(tmp_path):
    # mkdir's FileExistsError named neither the link nor the file being written
    from gmmfast.io import write_image

    (tmp_path / "out").symlink_to(tmp_path / "nowhere")
    with pytest.raises(NotADirectoryError, match="out' is a link to nothing, not a folder"):
        write_image(tmp_path / "out" / "x.png", np.zeros((4, 5), np.uint8))
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="deep/f' is a file, not a folder"):
        write_video(tmp_path / "deep" / "f" / "g" / "x.gif", [np.zeros((4, 5), np.uint8)] * 2)

"""Where EM's samples live: in memory, or on disk read chunk by chunk.

``GaussianMixture`` runs one EM loop over a *data source*: an object that
computes one pass of per-block statistics for given kernel arrays
(``em_pass``), computes per-sample outputs (``e_step``), and holds an
in-memory ``sample`` of the rows for initialisation and for re-seeding empty
components.  :class:`InMemory` wraps a validated array (the sample is the
array itself); :class:`Chunked` streams an ``np.memmap`` (or an ``.npy`` file
opened as one) in chunks of whole kernel blocks, so it never holds more than
one converted chunk; ``gmmfast._dask`` has the Dask array source.
Sources that are not in memory keep a ``sample`` of at most
``INIT_MAX_SAMPLES`` rows, drawn as the in-memory initialisation draws its
own, so the three kinds of fit start from the same parameters.

Chunks start at multiples of the kernel's block of ``BLOCK_ROWS`` samples, so
the chunked pass writes exactly the block statistics the in-memory pass does,
and the two fits agree bit for bit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ._dispatch import load
from ._finite import all_finite
from ._threads import threads_for
from ._validation import check_lazy_samples, check_samples, kernel_array

_k = load("_gmm")

#: Samples per block of em_pass's statistics (CHUNK * BLOCK in _gmm.pyx).
BLOCK_ROWS = 4096
if _k.n_blocks(BLOCK_ROWS) != 1 or _k.n_blocks(BLOCK_ROWS + 1) != 2:
    raise ImportError("gmmfast build error: _em_data.BLOCK_ROWS does not match _gmm.pyx's block size")

#: Bytes of one converted chunk of a memmap (whole blocks; at least one block).
CHUNK_BYTES = 16 << 20
#: The initialisation works on at most this many rows: larger data is sampled (rows drawn
#: uniformly with replacement).  K-means centres of a million rows are those of all rows to
#: within their noise, and it keeps a fit's memory at the data plus O(chunk * K) whatever n is.
INIT_MAX_SAMPLES = 1 << 20


def is_dask_array(X) -> bool:
    """True for a ``dask.array.Array`` (without importing dask: if it is not loaded, X is none)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(X, da.Array)


def is_chunked_input(X) -> bool:
    """An ``np.memmap`` or a path to an ``.npy`` file: streamed chunk by chunk."""
    return isinstance(X, np.memmap) or isinstance(X, (str, os.PathLike))


def open_samples(X) -> np.ndarray:
    """``X`` itself, or the ``.npy`` file it names opened read-only as a memmap."""
    if isinstance(X, np.memmap):
        return X
    path = Path(X)
    if path.suffix.lower() != ".npy":
        raise ValueError(f"X as a path must name a .npy file (read as a memory map), got {str(path)!r}; "
                         "load other formats yourself and pass an array.")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"Cannot open {str(path)!r} as a .npy memory map: {exc}") from exc
    if not isinstance(arr, np.memmap):   # 0-size arrays are not mapped
        arr = np.asarray(arr)
    return arr


def init_sample_rows(n: int, rng) -> np.ndarray | None:
    """Sorted rows the initialisation uses (None: all of them, when n <= INIT_MAX_SAMPLES).

    Every data source draws with this one formula at the same point of the
    random stream, so in memory, memmap and Dask fits start alike.
    """
    if n <= INIT_MAX_SAMPLES:
        return None
    return np.sort(rng.randint(0, n, size=INIT_MAX_SAMPLES))


def check_output(name: str, out: np.ndarray, dtype) -> np.ndarray:
    """``out``, an e_step output computed in ``dtype``, unless a row's squared distances overflowed:
    its log-density is then -inf, its responsibilities NaN and its label -1 (scikit-learn returns the
    NaN and label 0).  Fit refuses such data, and so do these."""
    if name == "labels":
        bad = out.size and out.min() < 0
    else:
        bad = name in ("resp", "log_prob_norm") and not all_finite(out)
    if bad:
        raise overflow_error(dtype)
    return out


def overflow_error(dtype) -> ValueError:
    """What is wrong with X when the E-step in ``dtype`` gave a row no finite density, and what to do."""
    hint = "pass X as float64 or rescale it" if dtype == np.float32 else "rescale it"
    return ValueError(f"Squared distances overflow {np.dtype(dtype)} on some rows of X (values too large "
                      f"against the model's spread): {hint}.")


def output_spec(name: str, n: int, n_components: int, dtype) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of e_step's output ``name`` for ``n`` samples computed in ``dtype``."""
    if name == "labels":
        return (n,), np.dtype(np.intp)
    if name in ("resp", "weighted_log_prob"):
        return (n, n_components), np.dtype(dtype)
    if name == "log_prob_norm":
        return (n,), np.dtype(dtype)
    raise ValueError(f"unknown E-step output {name!r}")


def output_array(name: str, n: int, n_components: int, dtype) -> np.ndarray:
    """The array e_step fills for output ``name``."""
    return np.empty(*output_spec(name, n, n_components, dtype))


def block_buffers(buffers, n: int, width: int):
    """The kernel's per-block outputs for ``n`` rows (statistics ``width`` wide, log-likelihoods),
    ``buffers`` reused when they have that shape: one allocation per fit, not per iteration."""
    if buffers is None or buffers[0].shape[1] != width:
        nb = _k.n_blocks(n)
        buffers = (np.empty((nb, width)), np.empty(nb))
    return buffers

class InMemory:
    """Validated samples in memory: the kernel passes over all of them at once."""

    def __init__(self, X, n_threads, min_samples: int = 1):
        self.X = check_samples(X, min_samples=min_samples)
        self.n, self.d = self.X.shape
        self.dtype = self.X.dtype
        self.n_threads = n_threads
        self.sample = self.X
        self._buffers = None

    def promote(self, dtype) -> None:
        """Compute in ``dtype`` (wider than X's): X is converted once (a copy twice X's size)."""
        self.X = self.sample = self.X.astype(dtype)
        self.dtype = self.X.dtype

    def draw_sample(self, rng) -> None:
        """The sample is X itself (the initialisation subsamples it, at the same point of rng)."""

    def init_rows(self, rng, init: int) -> np.ndarray:
        return self.X

    def em_pass(self, km, kp, klc, kind, n_stats: int):
        block_stats, block_ll = self._buffers = block_buffers(self._buffers, self.n, km.shape[0] * n_stats)
        _k.em_pass(self.X, km, kp, klc, kind, block_stats, block_ll, threads_for(self.n, self.n_threads))
        return block_stats, block_ll

    def e_step(self, karrays, name: str, out: np.ndarray | None = None) -> np.ndarray:
        """One of e_step's outputs for all samples (into ``out`` when given, checked by the caller)."""
        out = output_array(name, self.n, karrays[0].shape[0], self.dtype) if out is None else out
        km, kp, klc, kind = karrays
        _k.e_step(self.X, km, kp, klc, kind, threads_for(self.n, self.n_threads), **{name: out})
        return out


def _mapped_file(X) -> tuple[str, int] | None:
    """(path, size now) of the file a memmap reads, else None."""
    path = getattr(X, "filename", None) if isinstance(X, np.memmap) else None
    try:
        return (path, os.stat(path).st_size) if path else None
    except OSError:
        return None


class Chunked:
    """A memmap (or other array not to be copied) read in chunks of whole kernel blocks.

    Nothing the size of the data is allocated: a chunk is used in place when
    it is C-contiguous float32/float64, else converted (uint8 pixels to
    float64, a Fortran-ordered file to C order) one chunk at a time.
    Finiteness is checked chunk by chunk during the first pass.
    """

    def __init__(self, X, n_threads):
        self.X = X
        self.dtype = check_lazy_samples(X.shape, X.dtype, min_samples=1)
        self.n, self.d = X.shape
        self.n_threads = n_threads
        row_bytes = self.d * self.dtype.itemsize
        self.rows = max(1, CHUNK_BYTES // (row_bytes * BLOCK_ROWS)) * BLOCK_ROWS
        self.sample = None
        self._checked = not (X.dtype.kind == "f")
        self._buffers = None
        self._file = _mapped_file(X)

    def promote(self, dtype) -> None:
        """Compute in ``dtype`` (wider than X's): each chunk is converted as it is read."""
        self.dtype = np.dtype(dtype)

    def _check_file(self) -> None:
        """Refuse to read on when the mapped file has been cut short: a page past its new end kills
        the process (SIGBUS) when it is read, with no Python error.  (Deleted is harmless: the
        mapping keeps the data.)  Checked before each chunk: a cut that leaves the chunk being read
        whole is caught at the next one; one inside it still brings the signal (reading the file
        with copies instead of the mapping would close that, at about a third more time per pass)."""
        if self._file is None:
            return
        path, size = self._file
        try:
            now = os.stat(path).st_size
        except OSError:
            return
        if now < size:
            raise OSError(f"{path} was cut from {size} to {now} bytes while it was being read; the fit was "
                          "stopped (write data files under another name and rename them into place when done).")

    def chunks(self):
        """(first row, C-contiguous chunk in the compute dtype) for every chunk."""
        for start in range(0, self.n, self.rows):
            self._check_file()
            chunk = kernel_array(self.X[start:start + self.rows], self.dtype)
            if not self._checked and not all_finite(chunk):
                raise ValueError(f"X contains NaN or infinity (in rows {start} to {start + len(chunk) - 1}); "
                                 "remove or impute those values first.")
            yield start, chunk
        self._checked = True

    def mean_log_prob(self, karrays) -> float:
        """The mean log-likelihood of all samples (``score``), computed chunk by chunk."""
        km, kp, klc, kind = karrays
        total = 0.0
        for _, chunk in self.chunks():
            log_prob = np.empty(len(chunk), self.dtype)
            _k.e_step(chunk, km, kp, klc, kind, threads_for(len(chunk), self.n_threads), log_prob_norm=log_prob)
            total += float(np.sum(check_output("log_prob_norm", log_prob, self.dtype), dtype=np.float64))
        return total / self.n

    def draw_sample(self, rng) -> None:
        """The initialisation's rows (init_sample_rows), read from the file; also used to re-seed."""
        idx = init_sample_rows(self.n, rng)
        self._check_file()
        rows = self.X[:] if idx is None else self.X[idx]
        self.sample = check_samples(np.asarray(rows), min_samples=1).astype(self.dtype, copy=False)

    def init_rows(self, rng, init: int) -> np.ndarray:
        """Rows for initialisation ``init``: the first sample, a new one for each later init."""
        if init > 0:
            self.draw_sample(rng)
        return self.sample

    def em_pass(self, km, kp, klc, kind, n_stats: int):
        block_stats, block_ll = self._buffers = block_buffers(self._buffers, self.n, km.shape[0] * n_stats)
        for start, chunk in self.chunks():
            b0, b1 = start // BLOCK_ROWS, start // BLOCK_ROWS + _k.n_blocks(len(chunk))
            _k.em_pass(chunk, km, kp, klc, kind, block_stats[b0:b1], block_ll[b0:b1],
                       threads_for(len(chunk), self.n_threads))
        return block_stats, block_ll

    def e_step(self, karrays, name: str, out: np.ndarray | None = None) -> np.ndarray:
        """One of e_step's outputs for all samples, computed chunk by chunk (into ``out`` when given,
        checked by the caller)."""
        out = output_array(name, self.n, karrays[0].shape[0], self.dtype) if out is None else out
        km, kp, klc, kind = karrays
        for start, chunk in self.chunks():
            _k.e_step(chunk, km, kp, klc, kind, threads_for(len(chunk), self.n_threads),
                      **{name: out[start:start + len(chunk)]})
        return out

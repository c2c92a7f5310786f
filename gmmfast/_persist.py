"""Saving fitted estimators to a file and loading them back, without pickle.

A model file is a NumPy ``.npz`` archive: one JSON document (``__meta__``)
with the format name and version, the class, the gmmfast version that wrote
it, the ``__init__`` parameters and the fitted attributes (names ending in
``_``), and one array entry for each array among them.  Loading reads it with
``allow_pickle=False``, so a model file cannot run code, and checks the class
and the format version before building anything: a file from another class or
from a newer gmmfast is refused with a message that says which.

Values that are neither arrays nor plain JSON (None, bool, int, float, str and
lists, tuples or dicts of them) cannot be saved; ``save`` says which parameter
holds one (e.g. a ``RandomState`` as ``random_state``: give an int, or use
pickle, which works for every estimator).
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from ._files import atomic_write

FORMAT = "gmmfast-model"
#: Version of the file layout this gmmfast writes and the newest it reads.
VERSION = 1


class _Writer:
    """Turns values into JSON, moving arrays into numbered archive entries."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
            return value.item() if isinstance(value, np.generic) else value
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                if all(isinstance(v, str) for v in value.ravel()):
                    return {"__strings__": value.tolist()}
                raise ValueError(f"cannot save {where}: an object array that is not all strings.")
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"__array__": key}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, where) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, where) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"__dict__": {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if hasattr(value, "get_params") and hasattr(value, "_fitted_state"):
            return {"__estimator__": self.describe(value, where)}
        raise ValueError(
            f"cannot save {where}={value!r}: only arrays, numbers, strings, None and lists or dicts of "
            "them can be stored in a model file (use an int for random_state, or pickle the model).")

    def describe(self, est: Any, where: str = "") -> dict:
        cls = type(est)
        return {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "params": {k: self.encode(v, f"{where}{k}") for k, v in est.get_params(deep=False).items()},
            "fitted": {k: self.encode(v, f"{where}{k}") for k, v in est._fitted_state().items()},
        }


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return np.array(arrays[value["__array__"]])
    if "__strings__" in value:
        return np.array(value["__strings__"], dtype=object)
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
    if "__estimator__" in value:
        from ._base import Estimator

        return _build(value["__estimator__"], arrays, Estimator)
    raise ValueError(f"unknown entry {sorted(value)} in the model file.")


def _build(desc: dict, arrays: Any, expected: type, overrides: dict | None = None) -> Any:
    """The estimator ``desc`` describes, with the parameters ``overrides`` replaced; its class must be
    ``expected`` or a gmmfast estimator class derived from it (nested estimators: any gmmfast estimator
    class).  Nothing else in gmmfast is called: a file that names a function or another class is
    refused before anything is built."""
    if not (isinstance(desc.get("class"), str) and isinstance(desc.get("params"), dict)
            and isinstance(desc.get("fitted"), dict)):
        raise ValueError("the model file is damaged: its description of the estimator is not "
                         "a class name with parameters and fitted attributes.")
    cls = _estimator_class(desc["class"], expected)
    params, fitted = (_under_new_names(cls, desc[part]) for part in ("params", "fitted"))
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise ValueError(f"the model file gives {cls.__name__} parameters it does not take: {', '.join(unknown)}.")
    est = cls(**{k: _decode(v, arrays) for k, v in params.items()})
    est._restore_fitted_state({k: _decode(v, arrays) for k, v in fitted.items()})
    # the overrides are set on the model as the file left it, as set_params would: restored with them,
    # a changed mixture size met the file's arrays and was blamed on the file ("inconsistent model
    # state"); set afterwards, each model answers as it does to set_params (MOG2: "changed from 5 to
    # 3 after the model learnt 30 frames; call reset() ...")
    if overrides:
        est.set_params(**overrides)
    return est


def _under_new_names(cls: type, entries: dict) -> dict:
    """A file's parameters or fitted attributes under the names ``cls`` gives them now (``_renamed``)."""
    renamed = getattr(cls, "_renamed", {})
    both = sorted(old for old, new in renamed.items() if old in entries and new in entries)
    if both:
        raise ValueError(f"the model file gives {cls.__name__} both {both[0]} and its new name "
                         f"{renamed[both[0]]}: it is damaged; save the model again.")
    return {renamed.get(k, k): v for k, v in entries.items()}


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _estimator_class(name: str, expected: type) -> type:
    """The class a model file names, if loading may build it: ``expected`` itself (a user's own
    subclass loads through its own ``load``), or a class of gmmfast's that derives from the
    estimator base and from ``expected``."""
    from importlib import import_module

    from ._base import Estimator

    if name == _qualified_name(expected):
        return expected
    module, _, short = name.rpartition(".")
    if not module.startswith("gmmfast."):
        raise ValueError(f"the model file holds a {name}, not a {expected.__name__}; a class outside gmmfast "
                         f"loads only through its own load ({short}.load).")
    try:   # (never gmmfast.__main__, whose import would run the command line)
        cls = getattr(import_module(module), short, None) if not module.endswith(".__main__") else None
    except ImportError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, Estimator)):
        raise ValueError(f"the model file names {name!r}, which is not a gmmfast estimator class.")
    if not issubclass(cls, expected):
        want = expected.__name__ if expected is not Estimator else "a gmmfast estimator"
        raise ValueError(f"the model file holds a {short}, not a {want}; load it with {short}.load.")
    return cls


def save(est: Any, path: str | os.PathLike) -> None:
    """Write ``est`` to ``path`` (see the module docstring); atomic (temporary name, then rename)."""
    from . import __version__

    writer = _Writer()
    meta = {"format": FORMAT, "version": VERSION, "gmmfast": __version__, **writer.describe(est)}
    with atomic_write(path) as fh:
        np.savez(fh, __meta__=np.array(json.dumps(meta)), **writer.arrays)


def load(cls: type, path: str | os.PathLike, **params: Any) -> Any:
    """An instance of ``cls`` read from ``path``; ``params`` override saved parameters (e.g. n_threads)."""
    name = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if os.path.isdir(name):
            raise IsADirectoryError(f"{name!r} is a folder, not a gmmfast model file.") from None
        # (NumPy's advice for such files is to unpickle them, which a model file never needs)
        detail = "" if "allow_pickle" in str(exc) else f" ({exc})"
        raise ValueError(f"{name!r} is not a gmmfast model file{detail}.") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{name!r} is not a gmmfast model file (it holds a single array).")
    with archive:
        try:
            meta = json.loads(str(archive["__meta__"]))
            fmt, version = meta["format"], int(meta["version"])
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"{name!r} is not a gmmfast model file.") from None
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise ValueError(f"{name!r} is damaged ({exc}); save the model again.") from None
        if fmt != FORMAT:
            raise ValueError(f"{name!r} is not a gmmfast model file (format {fmt!r}).")
        if version > VERSION:
            raise ValueError(
                f"{name!r} was written by gmmfast {meta.get('gmmfast', '?')} in model format {version}; "
                f"this gmmfast reads format {VERSION} and older: upgrade gmmfast to load it.")
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:     # the caller's keywords, not the file's: say so
            raise ValueError(f"Invalid parameter {unknown[0]!r} for {cls.__name__}.load. "
                             f"Valid parameters are: {cls._get_param_names()!r}.")
        try:
            return _build(meta, archive, cls, params)
        except KeyError as exc:
            raise ValueError(f"{name!r} is incomplete: it lacks {exc}.") from None
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:   # an entry fails its checksum
            raise ValueError(f"{name!r} is damaged ({exc}); save the model again.") from None

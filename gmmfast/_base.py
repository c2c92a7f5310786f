"""The one base of every estimator-like class in gmmfast.

Parameters are whatever ``__init__`` takes: ``__init__`` only stores them (no
validation, no work), ``get_params``/``set_params``/``__repr__`` are derived
from its signature, parameters are validated when the estimator is first used
(``fit``, ``apply``...), and fitted state lives in attributes whose names end
in ``_``.  That is scikit-learn's estimator protocol.

scikit-learn is optional.  When it can be imported, :class:`Estimator` derives
from ``sklearn.base.BaseEstimator``, so pipelines, ``GridSearchCV``,
``clone``, estimator tags and the notebook HTML display are scikit-learn's own.
Without it, :class:`_ParamsBase` supplies the same parameter protocol (what a
gmmfast user relies on: ``get_params``, ``set_params`` with nested
``a__b`` names, the changed-parameters ``repr``, a plain HTML display), so the
package imports and fits the same either way.
"""

from __future__ import annotations

import copy
import functools
import html
import inspect
import os
import threading
import weakref
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np

from .exceptions import ConvergenceWarning, NotFittedError

__all__ = ["Estimator", "SKLEARN_AVAILABLE", "check_is_fitted", "exclusive", "param_names", "writable"]

F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E", bound="Estimator")


class _ParamsBase:
    """scikit-learn's parameter protocol, for when scikit-learn is not installed."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Names of the ``__init__`` parameters, sorted (as scikit-learn sorts them)."""
        init = cls.__init__
        if init is object.__init__:
            return []
        params = [p for p in inspect.signature(init).parameters.values()
                  if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise RuntimeError(f"{cls.__name__}.__init__ must not take *args: parameters are named.")
        return sorted(p.name for p in params)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's parameters as a dict; with ``deep``, also those of
        estimator-valued parameters, as ``name__parameter``."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any):
        """Set parameters by name (``name__parameter`` for nested ones); returns self.

        They are validated when the estimator is next used, not here.
        """
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in params.items():
            name, delim, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {self._get_param_names()!r}.")
            if delim:
                nested[name][sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={_short_repr(v)}" for k, v in self.get_params(deep=False).items()
                   if not _same_value(v, defaults.get(k, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"

    def _repr_mimebundle_(self, **kwargs) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def _same_value(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    try:
        return bool(value == default) and type(value) is type(default)
    except Exception:  # objects whose == is not a truth value
        return False


def _short_repr(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    return repr(value)


try:
    from sklearn.base import BaseEstimator as _Root
    from sklearn.exceptions import ConvergenceWarning as _SklearnConvergence
    from sklearn.exceptions import NotFittedError as _SklearnNotFitted

    SKLEARN_AVAILABLE = True

    class _NotFittedError(NotFittedError, _SklearnNotFitted):
        """gmmfast's NotFittedError that scikit-learn's handlers catch too."""

    class _ConvergenceWarning(ConvergenceWarning, _SklearnConvergence):
        """gmmfast's ConvergenceWarning that scikit-learn's warning filters catch too."""

    _NotFittedError.__name__ = _NotFittedError.__qualname__ = "NotFittedError"
    _ConvergenceWarning.__name__ = _ConvergenceWarning.__qualname__ = "ConvergenceWarning"
except ImportError:  # scikit-learn is optional
    _Root = _ParamsBase  # type: ignore[assignment,misc]
    _NotFittedError = NotFittedError  # type: ignore[misc]
    _ConvergenceWarning = ConvergenceWarning  # type: ignore[misc]
    SKLEARN_AVAILABLE = False


class Estimator(_Root):  # type: ignore[valid-type,misc]
    """Base of gmmfast's estimators: scikit-learn's protocol, with or without scikit-learn.

    Subclasses store their ``__init__`` arguments unchanged under the same
    names, validate them in the method that first uses them, and name fitted
    attributes with a trailing ``_``.
    """

    #: Parameters and fitted attributes renamed since a model file could have been saved: old name ->
    #: new name (load reads a file's entries under their new names).
    _renamed: dict[str, str] = {}

    if TYPE_CHECKING:     # scikit-learn's set_params returns self too; said here for type checkers
        def set_params(self: E, **params: Any) -> E: ...

    def _check_fitted(self, attribute: str, first: str = "fit") -> None:
        """Raise :class:`~gmmfast.NotFittedError` unless ``attribute`` has been set."""
        check_is_fitted(self, attribute, first)

    # -- persistence (gmmfast/_persist.py): parameters + fitted attributes, no pickle
    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters and the fitted state to ``path`` (a NumPy ``.npz`` model file).

        The file is written under a temporary name and renamed, so an
        interrupted save never leaves a half-written model.  Load it with
        ``type(self).load(path)``; loading never unpickles.  (Pickle and
        joblib work too.)
        """
        from . import _persist

        with _lock_of(self):
            _persist.save(self, path)

    @classmethod
    def load(cls: type[E], path: str | os.PathLike, **params: Any) -> E:
        """An estimator read from a file written by :meth:`save`.

        ``params`` replace saved parameters (for example ``n_threads`` for
        this machine).  Raises ValueError for a file that is not a model file,
        holds another class, or comes from a newer gmmfast.
        """
        from . import _persist

        return _persist.load(cls, path, **params)

    def __getstate__(self) -> dict[str, Any]:
        """The object's state for pickle (and joblib), copied under its lock: the kernels of a
        call running in another thread write the arrays in place, and a state read while they do
        would be the model at no frame at all (``copy.deepcopy`` has its own, one copy)."""
        parent = getattr(super(), "__getstate__", None)     # (object has none before Python 3.11)
        with _lock_of(self):
            return copy.deepcopy(parent() if parent is not None else self.__dict__)

    def __copy__(self):
        """A shallow copy, sharing the arrays (as Python's copies do); it need not copy them under
        the lock, which __getstate__ would."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict):
        """One deep copy, taken under the lock (through __getstate__ the state was copied twice)."""
        with _lock_of(self):
            new = type(self).__new__(type(self))
            memo[id(self)] = new
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
            return new

    #: Whether the kernels write the fitted arrays in place (the streaming models).  Such a model
    #: unpickled with read-only arrays -- joblib's memory maps, ``mmap_mode='r'``, which
    #: ``joblib.Parallel`` uses for large arguments -- takes writable copies of them.
    _learns_in_place = False

    def __setstate__(self, state: dict[str, Any]) -> None:
        if self._learns_in_place:
            state = writable(state)
        parent = getattr(super(), "__setstate__", None)
        if parent is not None:
            parent(state)
        else:
            self.__dict__.update(state)

    def _fitted_state(self) -> dict[str, Any]:
        """What :meth:`save` stores besides the parameters: the fitted attributes."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _restore_fitted_state(self, state: dict[str, Any]) -> None:
        """Set the fitted attributes read by :meth:`load` (subclasses check and rebuild theirs)."""
        self.__dict__.update(state)


# One re-entrant lock per estimator, kept outside the object so that it is never
# pickled or copied: methods marked @exclusive run one at a time on one object, so
# threads sharing an estimator get serialised calls, never a half-updated model.
_LOCKS: "weakref.WeakKeyDictionary[Any, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock_of(obj: Any) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(obj)
        if lock is None:
            lock = _LOCKS[obj] = threading.RLock()
    return lock


def exclusive(method: F) -> F:
    """Run ``method`` holding its object's lock (calls on one object from several threads queue)."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with _lock_of(self):
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


def writable(value: Any, _memo: dict[int, Any] | None = None) -> Any:
    """``value`` with every read-only array in it replaced by a writable copy, through dicts,
    lists, tuples and the attributes of gmmfast's own objects (a subtractor's shake aligner keeps
    its arrays in objects of its own).  Containers and objects, fresh from unpickling, are updated
    in place and each array is copied once, so what was shared stays shared (the aligner's
    reference levels are its pyramid's list).  Other values are returned as they are."""
    memo = {} if _memo is None else _memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, np.ndarray):
        memo[id(value)] = value if value.flags.writeable else np.array(value)
    elif isinstance(value, dict):
        memo[id(value)] = value
        for k, v in value.items():
            value[k] = writable(v, memo)
    elif type(value) is list:
        memo[id(value)] = value
        value[:] = [writable(v, memo) for v in value]
    elif type(value) is tuple:            # (not named tuples: they hold parameters, not arrays)
        memo[id(value)] = tuple(writable(v, memo) for v in value)
    elif hasattr(value, "__dict__") and not isinstance(value, type) and type(value).__module__.startswith("gmmfast."):
        memo[id(value)] = value
        writable(vars(value), memo)
    else:
        memo[id(value)] = value
    return memo[id(value)]


@functools.lru_cache(maxsize=None)
def param_names(cls: type) -> tuple[str, ...]:
    """``cls``'s parameter names, as ``get_params`` lists them (cached: reading the signature
    costs tens of microseconds, too much for a check at every video frame)."""
    return tuple(cls._get_param_names())


def check_is_fitted(estimator: Any, attribute: str, first: str = "fit") -> None:
    """Raise :class:`~gmmfast.NotFittedError` when ``estimator`` has no ``attribute`` yet.

    ``first`` names the method that fits it (``'fit'``, ``'apply'``...).
    """
    if not hasattr(estimator, attribute):
        raise _NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: call '{first}' "
            "before using it.")

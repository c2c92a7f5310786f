"""Warnings and exceptions raised by gmmfast."""

__all__ = ["ConvergenceWarning", "DegenerateDataWarning", "InvalidParameterError", "NotFittedError"]


class ConvergenceWarning(UserWarning):
    """EM (``GaussianMixture.fit``) stopped at max_iter before meeting its tolerance.

    ``kmeans`` and ``PixelGMM`` do not warn: they report it in ``converged`` / ``converged_``.
    """


class DegenerateDataWarning(UserWarning):
    """The data forced a repair: a component was re-seeded or a covariance regularised."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit`` (or ``apply``).

    Subclasses ValueError and AttributeError, as scikit-learn's does (it is not
    scikit-learn's class: importing scikit-learn would slow ``import gmmfast``).
    """


class InvalidParameterError(ValueError, TypeError):
    """A parameter or argument has a wrong type or value (``n_components=2.0``,
    ``covariance_type="ful"``); the message names it and what it takes.

    Subclasses ValueError and TypeError, as scikit-learn's InvalidParameterError does, so
    ``except ValueError`` (scikit-learn's advice) and ``except TypeError`` both catch it.
    """

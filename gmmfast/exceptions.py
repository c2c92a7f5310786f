"""Warnings and exceptions raised by gmmfast."""


class ConvergenceWarning(UserWarning):
    """EM or k-means stopped at max_iter before meeting its tolerance."""


class DegenerateDataWarning(UserWarning):
    """The data forced a repair: a component was re-seeded or a covariance regularised."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit`` (or ``apply``).

    Subclasses ValueError and AttributeError, as scikit-learn's does (it is not
    scikit-learn's class: importing scikit-learn would slow ``import gmmfast``).
    """

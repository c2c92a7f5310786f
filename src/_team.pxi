# Included by every kernel module with parallel loops (and `from _team cimport ...`):
# the module's view of team.h, for the tests that compare one thread with two.

def threads_used():
    """How many OpenMP threads ran an iteration of this module's parallel loops since
    ``threads_reset()`` (a diagnostic for tests; calls from several Python threads mix)."""
    return _team_count()


def threads_reset():
    """Start counting the threads that run this module's parallel loops afresh."""
    _team_reset()

"""StreamThreadTuner: picks the thread count with the shortest period between calls.

A fake clock stands in for the machine: each call advances it by a period that
depends on the thread count the tuner chose, so the right answer is known.
"""

import numpy as np
import pytest

from gmmfast._stream_threads import StreamThreadTuner
from gmmfast._threads import effective_n_threads


class FakeLoop:
    def __init__(self, period_of):
        self.t = 0.0
        self.period_of = period_of

    def clock(self):
        return self.t

    def run(self, tuner, n):
        used = []
        for _ in range(n):
            c = tuner.next_threads()
            used.append(c)
            self.t += self.period_of(c)
        return used


def test_picks_more_threads_when_they_are_faster():
    loop = FakeLoop(lambda c: {1: 0.010, 2: 0.006}[c])
    tuner = StreamThreadTuner(2, exploit=100, clock=loop.clock)
    used = loop.run(tuner, 400)
    assert tuner.chosen == 2
    assert used.count(2) >= 0.8 * len(used)   # exploration: 20 calls in 120


def test_picks_one_thread_when_the_loop_is_faster_with_it():
    # a decoder beside the kernel: the whole loop is slower with 2 threads
    loop = FakeLoop(lambda c: {1: 0.010, 2: 0.013}[c])
    tuner = StreamThreadTuner(2, exploit=100, clock=loop.clock)
    used = loop.run(tuner, 400)
    assert tuner.chosen == 1
    assert used.count(1) >= 0.8 * len(used)


def test_follows_a_change_in_load():
    costs = {1: 0.010, 2: 0.006}
    loop = FakeLoop(lambda c: costs[c])
    tuner = StreamThreadTuner(2, exploit=50, clock=loop.clock)
    loop.run(tuner, 200)
    assert tuner.chosen == 2
    costs[2] = 0.020          # something else now takes a core
    loop.run(tuner, 200)
    assert tuner.chosen == 1
    assert tuner.history[0][0] == 2


def test_pauses_in_the_stream_are_not_measurements():
    # every 2-thread call is followed by a long pause (the user stopped the loop): ignored
    loop = FakeLoop(lambda c: {1: 0.010, 2: 5.0}[c])
    tuner = StreamThreadTuner(2, exploit=20, max_gap=1.0, clock=loop.clock)
    loop.run(tuner, 60)
    assert all(2 not in medians for _, medians in tuner.history)


def test_noisy_periods_choose_the_faster_median():
    rng = np.random.default_rng(0)
    loop = FakeLoop(lambda c: {1: 0.010, 2: 0.007}[c] * rng.lognormal(0, 0.3))
    tuner = StreamThreadTuner(2, block=9, settle=1, rounds=3, exploit=30, clock=loop.clock)
    loop.run(tuner, 1000)
    picks = [h[0] for h in tuner.history]
    assert picks.count(2) >= 0.8 * len(picks)


def test_candidates_and_single_thread():
    assert StreamThreadTuner(2).candidates == [2, 1]
    assert StreamThreadTuner(8).candidates == [8, 4, 1]
    t = StreamThreadTuner(1)
    assert [t.next_threads() for _ in range(5)] == [1] * 5
    with pytest.raises(ValueError, match="max_threads"):
        StreamThreadTuner(0)


def test_mog2_masks_do_not_depend_on_the_chosen_threads():
    import gmmfast

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (380, 400, 3), dtype=np.uint8) for _ in range(3)]
    frames = [np.clip(frames[i % 3].astype(int) + rng.integers(-3, 4, frames[0].shape), 0, 255).astype(np.uint8)
              for i in range(40)]
    auto = gmmfast.BackgroundSubtractorMOG2()          # n_threads=None: the tuner switches counts
    one = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
    used = set()
    for f in frames:
        np.testing.assert_array_equal(auto.apply(f), one.apply(f))
        used.add(auto.n_threads_)
    assert one.n_threads_ == 1
    tuner = auto._tuners.get("apply")
    if effective_n_threads(None) >= 2:                 # a machine with 2+ cores: the tuner ran
        assert tuner is not None and len(tuner.candidates) >= 2
        assert used == set(tuner.candidates)            # every candidate count was used


def test_settle_must_leave_measured_calls():
    with pytest.raises(ValueError, match="settle"):
        StreamThreadTuner(2, block=3, settle=3)

"""Thread count for a kernel called once per frame of a stream, chosen by frame rate.

A kernel that scales well on an idle machine can lose in a real loop: on two
cores, a video decoder (FFmpeg decodes the next frame while the current one is
processed) and a two-thread kernel fight for the cores, and measured here the
whole decode-and-subtract loop ran 8-36 % slower with two threads than with
one, although each call on its own was faster with two.  So what is compared is
the period between successive calls, which includes whatever the caller does
between frames, and not the duration of a call.

The tuner tries its candidates (one thread and all of them, plus half of them
on four or more cores) in short alternating blocks, uses the one with the
shortest median period for a few hundred frames, then tries them again, so it
follows changes in the load.  Results must not depend on the thread count
(true of the per-pixel kernels that use it), since it changes as it goes.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable


class StreamThreadTuner:
    """Picks, frame by frame, how many threads the next call should use.

    Parameters
    ----------
    max_threads : int
        The most threads a call may use (>= 1); with 1 there is nothing to choose.
    block : int
        Consecutive calls per trial block.
    settle : int
        Calls at the start of a block that are not measured: they pay for
        waking or parking threads, and a decoder running ahead of the loop
        takes a few frames to settle into the new pace.
    rounds : int
        Blocks per candidate in one exploration (candidates alternate block by
        block, so a change in the machine's load hits all of them).
    exploit : int
        Calls made with the chosen count before exploring again.
    max_gap : float
        Periods longer than this (seconds) are pauses in the stream, not
        measurements, and are ignored.
    clock : callable
        Time source in seconds (tests pass a fake one).
    """

    def __init__(self, max_threads: int, *, block: int = 10, settle: int = 3, rounds: int = 2,
                 exploit: int = 300, max_gap: float = 1.0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if max_threads < 1:
            raise ValueError(f"max_threads must be >= 1, got {max_threads}.")
        cands = {1, max_threads}
        if max_threads >= 4:
            cands.add(max_threads // 2)
        self.candidates = sorted(cands, reverse=True)
        self.max_threads = max_threads
        if not 0 <= settle < block:
            raise ValueError(f"settle must be in [0, block), got {settle} with block={block}.")
        self.block, self.settle, self.rounds = block, settle, rounds
        self.exploit, self.max_gap = exploit, max_gap
        self._clock = clock
        self._plan: deque[tuple[int, bool]] = deque()   # (threads, measured) for the next calls
        self._samples: dict[int, list[float]] = {}
        self._exploring = False
        self._last_start: float | None = None
        self._last: tuple[int, bool] | None = None
        self.chosen: int = max_threads                 # the current best guess
        # (chosen, median periods) of the latest explorations, for inspection; bounded for long streams
        self.history: deque[tuple[int, dict[int, float]]] = deque(maxlen=64)

    def _explore_plan(self) -> list[tuple[int, bool]]:
        plan = []
        for _ in range(self.rounds):
            for c in self.candidates:
                plan.extend((c, False) for _ in range(self.settle))
                plan.extend((c, True) for _ in range(self.block - self.settle))
        return plan

    def _decide(self) -> None:
        medians = {}
        for c, periods in self._samples.items():
            if periods:
                s = sorted(periods)
                medians[c] = s[len(s) // 2]
        if medians:
            # the shortest median period; a tie goes to more threads
            self.chosen = min(medians, key=lambda c: (medians[c], -c))
        self.history.append((self.chosen, medians))
        self._samples = {}

    def next_threads(self) -> int:
        """Threads for the call about to start (call once per frame, at its start)."""
        if self.max_threads == 1:
            return 1
        now = self._clock()
        if self._last is not None and self._last_start is not None:
            threads, measured = self._last
            period = now - self._last_start
            if measured and 0.0 <= period <= self.max_gap:
                self._samples.setdefault(threads, []).append(period)
        if not self._plan:
            if self._exploring:
                self._decide()
                self._plan = deque([(self.chosen, False)] * self.exploit)
                self._exploring = False
            else:
                self._plan = deque(self._explore_plan())
                self._exploring = True
        self._last = self._plan.popleft()
        self._last_start = now
        return self._last[0]

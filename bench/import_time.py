"""How long `import gmmfast` takes beyond NumPy's own import, in fresh interpreters.

    python bench/import_time.py [--rounds 21] [--python PATH]

Two measures, both from fresh processes started from a temporary directory (so the
checkout's source folder does not shadow the installed package):

* wall clock: `import numpy` and `import numpy, gmmfast` timed inside the child
  (time.perf_counter around the import statement), alternating, in rounds; the
  difference of the medians is gmmfast's own share.  Interpreter start-up is excluded.
* `python -X importtime -c "import numpy, gmmfast"`: the cumulative microseconds the
  import system reports for gmmfast and for each module it imports that NumPy had not,
  median over the rounds (importtime's own bookkeeping inflates every figure a little).

The machine is shared: each round measures both in turn, and the medians are reported
with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

_TIMED = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def _wall(python: str, stmt: str, cwd: str) -> float:
    out = subprocess.run([python, "-c", _TIMED.format(stmt=stmt)], capture_output=True, text=True,
                         cwd=cwd, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(python: str, cwd: str) -> dict[str, int]:
    """{module: cumulative us} for gmmfast's modules and the ones they pull in after NumPy."""
    out = subprocess.run([python, "-X", "importtime", "-c", "import numpy; import gmmfast"],
                         capture_output=True, text=True, cwd=cwd, check=True)
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
    cumulative = {}
    for line in lines[1:]:
        _, cum, name = (part.strip() for part in line[len("import time:"):].split("|"))
        cumulative[name] = int(cum)
    # the modules after NumPy's own import ended (its top-level line "numpy" comes last of its tree)
    names = list(cumulative)
    after = names[names.index("numpy") + 1:] if "numpy" in names else names
    return {name: cumulative[name] for name in after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cwd:
        numpy_only, both, per_module = [], [], {}
        for _ in range(args.rounds):
            numpy_only.append(_wall(args.python, "import numpy", cwd))
            both.append(_wall(args.python, "import numpy; import gmmfast", cwd))
            for name, us in _importtime(args.python, cwd).items():
                per_module.setdefault(name, []).append(us)
    med_np, med_both = statistics.median(numpy_only), statistics.median(both)
    print(f"python: {args.python}; rounds: {args.rounds}; load average: {os.getloadavg()}")
    print(f"wall clock, median: import numpy {med_np * 1e3:.1f} ms; import numpy + gmmfast "
          f"{med_both * 1e3:.1f} ms; gmmfast's share {(med_both - med_np) * 1e3:.1f} ms")
    print("importtime, cumulative, median over the rounds (modules imported after NumPy):")
    rows = sorted(((statistics.median(v), k) for k, v in per_module.items() if len(v) == args.rounds),
                  reverse=True)
    for us, name in rows[:15]:
        print(f"  {us / 1e3:8.1f} ms  {name}")


if __name__ == "__main__":
    main()

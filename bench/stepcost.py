"""Where a persisted step's time goes: statements and seconds by step hook, on the HV path ``hv_solo``.

Run with ``.venv/bin/python -m bench.stepcost`` (``-n`` instances, ``--profile`` to print cProfile's top
functions as well). Statements are counted with a SQLAlchemy ``before_cursor_execute`` listener and charged
to the innermost step hook (or write-path part) on the stack when they run; each hook's own time is taken
by wrapping its methods. Prints per-step figures: statements and milliseconds by part.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.run import PROCESSES, facade_engine, facade_run, light_registry, load
from cli.demo import load_scenarios
from cli.main import settle

HOOK_METHODS = ("check_completion", "task_opening", "tasks_opened", "tasks_closed", "step_done")


def charge(frame: Any, hook_files: dict[str, str]) -> str:
    """The innermost step hook on the stack (by its source file), else the write path's function."""
    f = frame
    while f is not None:
        name = hook_files.get(f.f_code.co_filename)
        if name is not None:
            return name
        f = f.f_back
    f = frame
    while f is not None:
        if f.f_code.co_filename.endswith("casework/steps.py"):
            return f"steps.{f.f_code.co_name}"
        if f.f_code.co_filename.endswith("casework/audit.py"):
            return "audit"
        f = f.f_back
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    hv = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}["hv_solo"]
    print(load())
    with tempfile.TemporaryDirectory() as name:
        engine = facade_engine(Path(name) / "cost", light_registry())
        for _ in range(3):
            facade_run(engine, hv)
        settle()
        hooks = engine.steps.hooks
        hook_files = {sys.modules[type(h).__module__].__file__ or "": type(h).__name__ for h in hooks}
        seconds: dict[str, float] = {}
        statements: Counter[str] = Counter()

        for hook in hooks:
            for method in HOOK_METHODS:
                original = getattr(hook, method)

                def timed(*a: Any, _original: Any = original, _name: str = type(hook).__name__, **k: Any) -> Any:
                    t0 = time.perf_counter()
                    try:
                        return _original(*a, **k)
                    finally:
                        seconds[_name] = seconds.get(_name, 0.0) + time.perf_counter() - t0
                setattr(hook, method, timed)

        @event.listens_for(engine.store.sa_engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            statements[charge(sys._getframe(1), hook_files)] += 1
            statements["total"] += 1

        profile = cProfile.Profile() if args.profile else None
        t0 = time.perf_counter()
        if profile:
            profile.enable()
        for _ in range(args.n):
            facade_run(engine, hv)
        if profile:
            profile.disable()
        total = time.perf_counter() - t0
        engine.dispose()
    steps = args.n * (len(hv.steps) + 1)
    print(f"{args.n} × {hv.name}: {total / args.n * 1000:.2f} ms per instance, {total / steps * 1000:.3f} ms per "
          f"transaction; {statements['total'] / steps:.2f} statements per transaction")
    print("statements per transaction, by part:")
    for part, count in statements.most_common():
        if part != "total":
            print(f"  {part:<36} {count / steps:6.2f}")
    print("hook time per transaction (ms):")
    for part, secs in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {part:<36} {secs / steps * 1000:6.3f}")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    print(load())


if __name__ == "__main__":
    main()

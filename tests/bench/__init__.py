"""Benchmarks: `make bench` (or `./dev bench [name ...]`) runs them and prints their figures."""


def machine_speed() -> str:
    """A line to compare runs on shared, noisy machines by: a fixed pure-Python loop's time."""
    import time

    t0 = time.perf_counter()
    sum(range(10_000_000))
    return f"machine speed: sum(range(10M)) in {time.perf_counter() - t0:.3f} s (compare runs by this)"

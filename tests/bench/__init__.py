"""Benchmarks: `make bench` (or `./dev bench [name ...]`) runs them and prints their figures."""

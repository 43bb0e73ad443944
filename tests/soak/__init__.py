"""Soak mode: a long mixed run (valid load, light fuzz, reads) against `loopline up` with an
oracle that checks BTQL answers against fetch and against the soak's own model of the data, and
a memory recorder. Run it with `make soak` (30 minutes by default) or `python -m tests.soak`."""

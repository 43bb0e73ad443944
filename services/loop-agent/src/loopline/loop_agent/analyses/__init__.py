"""Pre-canned analyses that need no model: on-call questions answered deterministically from BTQL
(queries.py builds it, results.py computes the answer from its rows, catalog.py runs them)."""

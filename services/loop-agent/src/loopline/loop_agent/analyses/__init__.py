"""Pre-canned analyses that need no model: on-call questions answered deterministically from BTQL
(`loopline.common.analyses.queries` builds it, `.results` computes the answer from its rows,
catalog.py runs them)."""

"""Evaluating Loop itself: a seeded project whose answers are known (`seed`), questions about it
with those answers (`questions`), and the harness that asks a model and scores it (`harness`)."""

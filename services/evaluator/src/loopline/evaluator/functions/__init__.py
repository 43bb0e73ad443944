"""Prompts and functions on the server (spec §2-§3): the versioned store, its REST routes
(`/v1/prompt`, `/v1/function`, `/insert-functions`) and code bundles (`/function/code`)."""

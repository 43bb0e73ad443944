"""Shared building blocks: settings, logging, rows, transaction ids, bus, store."""

"""Loopline ingest service."""

"""Loopline query service."""

"""Loopline classifier service."""

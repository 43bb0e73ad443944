"""Loopline gateway service."""

"""Loopline loop_agent service."""

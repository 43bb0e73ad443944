"""Loopline evaluator service."""

"""Runs services: embedded (all in one process) or one service per process."""

"""The loopline command line."""

"""Model providers for every Loopline service."""

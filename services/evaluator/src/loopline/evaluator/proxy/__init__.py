"""The model gateway: OpenAI-compatible `/v1/proxy/*` routed to each org's providers."""

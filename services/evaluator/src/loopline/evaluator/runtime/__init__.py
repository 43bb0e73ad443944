"""Running functions (prompts, scorers, code), logging them as spans, and invoke (spec §4)."""

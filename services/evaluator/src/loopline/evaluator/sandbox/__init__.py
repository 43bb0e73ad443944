"""Run user Python code (code scorers and code functions) in an isolated process; API in `runner`."""

"""Production-style logging for the online-scoring e2e test, run in a subprocess with the SDK.

Usage: python online_flows.py traces <project-name> <n>: logs n traces (a root task span with an
`llm` child that ends before the root, a pause while the root is still open) and flushes; prints
`{"traces": [{"root_span_id", "root_id", "llm_id"}, ...]}` on the last line.
Needs BRAINTRUST_API_URL, BRAINTRUST_APP_URL and BRAINTRUST_API_KEY in the environment.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import braintrust


def traces(project: str, n: int) -> dict[str, Any]:
    logger = braintrust.init_logger(project=project)
    out = []
    for i in range(n):
        with logger.start_span(name="answer", input={"question": f"q{i}"}) as root:
            with root.start_span(name="llm", type="llm") as llm:
                llm.log(input=[{"role": "user", "content": f"q{i}"}], output="thanks", expected="thanks")
            if i == 0:
                logger.flush()  # the root's start and its ended child reach the server first
                time.sleep(3)
            root.log(output="thank you kindly", expected="thank you kindly", metadata={"n": i})
            out.append({"root_span_id": root.root_span_id, "root_id": root.id, "llm_id": llm.id})
    logger.flush()
    return {"traces": out}


if __name__ == "__main__":
    print(json.dumps(traces(sys.argv[2], int(sys.argv[3]))))

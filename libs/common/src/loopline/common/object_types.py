"""The object types rows belong to, and their vocabularies, defined once (spec §5.1).

Every service imports these; libs/btql (pure, no dependency on common) keeps its own copy of the
readable types, and `tests/test_object_types.py` checks that it agrees.
"""

from __future__ import annotations

from typing import Final

EXPERIMENT: Final = "experiment"
DATASET: Final = "dataset"
PROJECT_LOGS: Final = "project_logs"
PROMPT_SESSION: Final = "prompt_session"
PROJECT_PROMPTS: Final = "project_prompts"
PLAYGROUND_LOGS: Final = "playground_logs"

#: Object types a client can write rows to (`/logs3`, the row contract).
WRITABLE: Final = frozenset({EXPERIMENT, DATASET, PROJECT_LOGS, PROMPT_SESSION, PROJECT_PROMPTS})
#: Object types a `loopline.rows` message may target: the writable ones plus playground logs,
#: which no route writes yet but a producer may.
ON_THE_BUS: Final = WRITABLE | {PLAYGROUND_LOGS}
#: Object types whose rows are spans (all but datasets).
SPAN_TYPES: Final = ON_THE_BUS - {DATASET}
#: Object types with read routes (fetch, summaries, BTQL) and REST `/v1/<type>/<id>/insert`.
READABLE: Final = (PROJECT_LOGS, EXPERIMENT, DATASET)

#: The row field naming each object's id (project-scoped objects also carry a `log_id`).
ID_FIELD: Final = {
    EXPERIMENT: "experiment_id",
    DATASET: "dataset_id",
    PROJECT_LOGS: "project_id",
    PROMPT_SESSION: "prompt_session_id",
    PROJECT_PROMPTS: "project_id",
}

#: `log_id` values of project-scoped objects, and the object id their rows are stored under.
PROJECT_LOGS_LOG_ID: Final = "g"
PROJECT_PROMPTS_LOG_ID: Final = "p"
LOG_IDS: Final = {PROJECT_LOGS_LOG_ID: PROJECT_LOGS, PROJECT_PROMPTS_LOG_ID: PROJECT_PROMPTS}
LOG_ID_OF: Final = {v: k for k, v in LOG_IDS.items()}


def stored_object_id(object_type: str, object_id: str) -> str:
    """The object id rows are stored under: project-scoped objects use their `log_id` ("g" logs,
    "p" prompts), the others their own id."""
    return LOG_ID_OF.get(object_type, object_id)

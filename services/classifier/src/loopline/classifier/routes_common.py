"""What every classifier route module shares: the path prefix, the project check, the body check."""

from __future__ import annotations

from typing import Any

from loopline.common.control_plane import ControlPlane
from loopline.common.errors import Invalid, NotFound

PREFIX = "/v1/project/{project_id}/classifier"


async def own_project(cp: ControlPlane, org_id: str, project_id: str) -> None:
    """Another org's project (or none) is "not found"."""
    if await cp.object_info(org_id, "project", project_id) is None:
        raise NotFound(f"no project {project_id!r}", field="project_id")


def body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body

"""Request bodies of the control-plane endpoints (pydantic at the edge).

Field names follow Braintrust's REST API (`CreateProject`, `CreateExperiment`, ... in the SDK's
generated client) and the legacy register endpoints. Unknown fields are accepted and ignored:
SDKs send fields we do not store (`project_group_name`, `internal_metadata`, `org_id`, ...).
"""

from __future__ import annotations

from typing import Annotated, Any

from loopline.common.auth import Role
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_NAME = 1024


def _name(v: str) -> str:
    if not v.strip():
        raise ValueError("must be a non-empty string")
    return v


NameStr = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_name)]


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- projects --------------------------------------------------------------------------------
class CreateProject(Body):
    name: NameStr
    description: str | None = None
    org_name: str | None = None


class LegacyRegisterProject(Body):
    project_name: NameStr
    org_id: str | None = None


class PatchProject(Body):
    name: NameStr | None = None
    description: str | None = None
    settings: dict[str, Any] | None = None


# -- experiments -----------------------------------------------------------------------------
class CreateExperiment(Body):
    project_id: str | None = None
    project_name: str | None = None  # convenience; Braintrust requires project_id
    org_name: str | None = None
    name: NameStr | None = None
    description: str | None = None
    ensure_new: bool | None = None
    base_exp_id: str | None = None
    base_experiment: str | None = None  # legacy register: base experiment by name
    ancestor_commits: list[str] | None = None
    dataset_id: str | None = None
    dataset_version: str | int | None = None
    parameters_id: str | None = None
    parameters_version: str | int | None = None
    repo_info: dict[str, Any] | None = None
    public: bool | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


class LegacyRegisterExperiment(CreateExperiment):
    experiment_name: NameStr | None = None
    update: bool | None = None
    org_id: str | None = None


class LegacyGetExperiment(Body):
    experiment_name: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    org_name: str | None = None


class PatchExperiment(Body):
    name: NameStr | None = None
    description: str | None = None
    base_exp_id: str | None = None
    dataset_id: str | None = None
    dataset_version: str | int | None = None
    parameters_id: str | None = None
    parameters_version: str | int | None = None
    repo_info: dict[str, Any] | None = None
    public: bool | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


class BaseExperimentQuery(Body):
    id: str


# -- datasets --------------------------------------------------------------------------------
class CreateDataset(Body):
    project_id: str | None = None
    project_name: str | None = None
    org_name: str | None = None
    name: NameStr | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


class LegacyRegisterDataset(CreateDataset):
    dataset_name: NameStr | None = None
    org_id: str | None = None


class PatchDataset(Body):
    name: NameStr | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


# -- API keys --------------------------------------------------------------------------------
class CreateApiKey(Body):
    name: NameStr
    org_name: str | None = None
    role: Role | None = None  # a service account's key: its role (default and most: the caller's)

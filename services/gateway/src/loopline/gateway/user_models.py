"""Request bodies of the sign-in, member and invitation endpoints (pydantic at the edge).

Validation messages never repeat a password: its only constraints are its length."""

from __future__ import annotations

import re
from typing import Annotated

from loopline.common.auth import Role
from loopline.gateway.models import Body
from loopline.gateway.passwords import MIN_PASSWORD_LENGTH
from pydantic import AfterValidator, Field

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(v: str) -> str:
    v = v.strip().lower()
    if not _EMAIL.match(v):
        raise ValueError("must be an email address (name@domain)")
    return v


Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
DisplayName = Annotated[str, Field(max_length=256)]


class Login(Body):
    email: Annotated[str, Field(max_length=320)]  # any string: a wrong one is a failed sign-in
    password: Annotated[str, Field(max_length=1024)]


class CreateUser(Body):
    email: Email
    role: Role = "member"
    name: DisplayName = ""
    password: Password | None = None  # without one, the answer has an invitation to set it


class PatchUser(Body):
    role: Role | None = None
    name: DisplayName | None = None


class CreateInvitation(Body):
    role: Role = "member"
    email: Email | None = None  # when set, only this address may accept it


class AcceptInvitation(Body):
    token: Annotated[str, Field(min_length=1, max_length=256)]
    email: Email
    password: Password
    name: DisplayName = ""

"""Function definitions: what `check_definition` / `check_patch` accept and how they say no,
versions in both of the SDK's forms, bundle upload tokens."""

from __future__ import annotations

import time
from typing import Any

import pytest
from braintrust.xact_ids import load_pretty_xact, prettify_xact
from loopline.common.errors import Forbidden, Invalid, TooLarge
from loopline.common.xact import xact_for_time
from loopline.evaluator.functions.bundles import BundleSigner, UploadGrant
from loopline.evaluator.functions.records import (
    MAX_OBJECT_BYTES,
    FunctionRecord,
    check_definition,
    check_patch,
    slugify,
)
from loopline.evaluator.functions.routes import public_base
from loopline.evaluator.functions.versions import parse_version, pretty_version
from starlette.requests import Request


def test_versions_match_the_sdks_pretty_form() -> None:
    for seq in (0, 1, 65535):
        x = xact_for_time(1_780_000_000 + seq, seq)
        assert pretty_version(x) == prettify_xact(x)
        assert parse_version(prettify_xact(x)) == x == int(load_pretty_xact(prettify_xact(x)))
        assert parse_version(str(x)) == x
    for bad in ("", "latest", "12ab", "-1", "1" * 21, "g" * 16):
        with pytest.raises(Invalid) as e:
            parse_version(bad, field="version")
        assert e.value.where["field"] == "version"


def test_slugify_like_the_sdk() -> None:
    assert slugify("Chat Prompt") == "chat-prompt"
    assert slugify("  Is  Polite?! ") == "is-polite"


def prompt_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Chat Prompt",
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "{{input}}"}]},
            "options": {"model": "gpt-4o-mini"},
        },
        **extra,
    }


def test_definitions_get_defaults_and_keep_what_was_sent() -> None:
    fields = check_definition(prompt_body(tags=["a"], metadata={"k": 1}), prompt=True)
    assert fields["slug"] == "chat-prompt" and fields["function_data"] == {"type": "prompt"}
    assert fields["tags"] == ["a"] and fields["metadata"] == {"k": 1} and fields["description"] is None
    code = {
        "name": "adder",
        "function_data": {
            "type": "code",
            "data": {
                "type": "inline",
                "code": "def f(): ...",
                "runtime_context": {"runtime": "python", "version": "3.11"},
            },
        },
    }
    assert check_definition(code, prompt=False)["function_data"]["data"]["code"] == "def f(): ..."
    with pytest.raises(Invalid) as e:
        check_definition({"name": "x"}, prompt=False)  # a function needs function_data
    assert e.value.where["field"] == "function_data"
    with pytest.raises(Invalid) as e:
        check_definition({"name": "?!"}, prompt=True)  # no slug can be made from it
    assert e.value.where["field"] == "slug"
    with pytest.raises(Invalid) as e:
        check_definition(prompt_body(slug="a/b"), prompt=True)
    assert e.value.where["field"] == "slug"
    with pytest.raises(TooLarge):
        check_definition(
            prompt_body(description="x" * 60_000, metadata={"blob": "y" * MAX_OBJECT_BYTES}), prompt=True
        )


def test_patches_apply_to_the_current_version() -> None:
    cur = FunctionRecord.model_validate(
        {
            "id": "f1",
            "org_id": "o",
            "project_id": "p",
            "_xact_id": "1000198313823043584",
            "created": "2026-12-03T00:00:00Z",
            **check_definition(prompt_body(), prompt=True),
        }
    )
    assert cur.public()["_xact_id"] == "1000198313823043584" and cur.is_prompt
    fields = check_patch({"description": "d", "slug": "new-slug"}, cur)
    assert (
        fields["description"] == "d"
        and fields["slug"] == "new-slug"
        and fields["prompt_data"] == cur.prompt_data
    )
    with pytest.raises(Invalid) as e:
        check_patch({"prompt_data": None}, cur)  # a prompt function keeps its prompt
    assert e.value.where["field"] == "prompt_data"
    with pytest.raises(Invalid) as e:
        check_patch({"_xact_id": "1"}, cur)
    assert e.value.where["field"] == "_xact_id"
    with pytest.raises(Invalid) as e:
        check_patch({"name": ""}, cur)
    assert e.value.where["field"] == "name"


def test_bundle_tokens_are_signed_scoped_and_expire() -> None:
    signer = BundleSigner(b"k" * 32)
    grant = UploadGrant("org-1", "b1", "python/3.11", int(time.time()) + 60)
    token = signer.sign(grant)
    assert signer.verify(token) == grant
    with pytest.raises(Forbidden, match="not valid"):
        BundleSigner(b"x" * 32).verify(token)  # another server's key
    payload, mac = token.split(".")
    forged = UploadGrant("org-2", "b1", "python/3.11", grant.expires)
    with pytest.raises(Forbidden, match="not valid"):
        signer.verify(signer.sign(forged).split(".")[0] + "." + mac)  # another org, old signature
    with pytest.raises(Forbidden, match="not valid"):
        signer.verify("garbage")
    expired = signer.sign(UploadGrant("org-1", "b1", "python/3.11", int(time.time()) - 1))
    with pytest.raises(Forbidden, match="expired"):
        signer.verify(expired)
    assert payload


def _request(headers: dict[str, str]) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/function/code",
        "scheme": "http",
        "server": ("10.0.0.7", 8102),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
    }
    return Request(scope)


def test_upload_urls_point_at_the_host_the_client_reached() -> None:
    assert public_base(_request({"host": "10.0.0.7:8102"})) == "http://10.0.0.7:8102"
    forwarded = {
        "host": "10.0.0.7:8102",
        "x-forwarded-host": "loopline.example:443",
        "x-forwarded-proto": "https",
    }
    # forwarded by the gateway (it adds the internal token the service checked): the client's host
    assert (
        public_base(_request({**forwarded, "x-loopline-internal-token": "t"}))
        == "https://loopline.example:443"
    )
    # a client's own x-forwarded-host, straight to a service, is not trusted
    assert public_base(_request(forwarded)) == "http://10.0.0.7:8102"

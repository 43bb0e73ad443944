"""AI secrets: sealed at rest, never returned in full, Braintrust's POST/PUT/PATCH/DELETE
semantics, tenant isolation, and the providers they configure."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from loopline.common.errors import Conflict, Invalid, NotFound
from loopline.common.store import Store
from loopline.evaluator.ai_secrets import COLUMNS, AiSecretStore, Revealed
from loopline.evaluator.org_models import OrgModels, provider_config
from loopline.evaluator.secret_box import SecretBox, SecretDecryptError, SecretKeyError, new_key_text, preview

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def box(tmp_path: Path) -> SecretBox:
    return SecretBox.from_config("", tmp_path)


def test_secret_box_key_file_and_binding(tmp_path: Path) -> None:
    a = SecretBox.from_config("", tmp_path)
    assert (tmp_path / "ai_secrets.key").stat().st_mode & 0o777 == 0o600
    b = SecretBox.from_config("", tmp_path)  # the same file: the same key
    sealed = a.seal("hello", "org1/s1")
    assert KEY not in sealed and b.open(sealed, "org1/s1") == "hello"
    with pytest.raises(SecretDecryptError):
        a.open(sealed, "org2/s1")  # bound to its org and id
    with pytest.raises(SecretDecryptError):
        SecretBox.from_config(new_key_text(), tmp_path).open(sealed, "org1/s1")  # another key
    with pytest.raises(SecretKeyError, match="32 bytes"):
        SecretBox.from_config("c2hvcnQ=", tmp_path)
    assert a.seal("x", "c") != a.seal("x", "c")  # fresh nonces


def test_preview_never_shows_more_than_eight_characters() -> None:
    assert preview(KEY) == "sk-p…6789"
    assert preview("short-key") == "…ey"
    assert preview("abc") == "…"


async def test_create_list_get_patch_delete(store: Store, box: SecretBox) -> None:
    secrets = AiSecretStore(store, box)
    org = str(uuid.uuid4())
    s = await secrets.create(
        org,
        {"name": "OPENAI_API_KEY", "type": "openai", "secret": KEY, "metadata": {"models": ["gpt-4o"]}},
        "u1",
    )
    pub = s.public()
    assert pub["preview_secret"] == "sk-p…6789" and pub["type"] == "openai" and pub["org_id"] == org
    assert KEY not in str(pub) and pub["secret_updated_by_user_id"] == "u1"
    # at rest: sealed, not the key
    _, rows = await store.query(store.sql("SELECT secret_enc FROM {db}.ai_secrets"))
    assert rows and all(KEY not in str(r) for r in rows)
    # POST of an existing name returns it unmodified
    again = await secrets.create(
        org, {"name": "OPENAI_API_KEY", "type": "openai", "secret": "sk-other-xxxxxxxxxxxxxxxx"}
    )
    assert again.id == s.id and again.preview == s.preview
    # PUT replaces type/metadata, keeps the value when no secret is given
    put = await secrets.create(
        org, {"name": "OPENAI_API_KEY", "type": "openai", "metadata": None}, replace=True
    )
    assert put.id == s.id and put.metadata is None and put.preview == s.preview
    (revealed,), problems = await secrets.revealed(org)
    assert revealed.secret == KEY and problems == []
    patched = await secrets.patch(org, s.id, {"secret": "sk-ant-" + "z" * 30, "name": "renamed"})
    assert patched.name == "renamed" and patched.preview == "sk-a…zzzz"
    assert [x.name for x in await secrets.find(org)] == ["renamed"]
    other = await secrets.create(org, {"name": "B", "type": "anthropic", "secret": "k" * 40})
    with pytest.raises(Conflict):
        await secrets.patch(org, other.id, {"name": "renamed"})
    assert [x.name for x in await secrets.find(org, types=["anthropic"])] == ["B"]
    assert [x.name for x in await secrets.find(org, limit=1)] == ["renamed"]
    assert [x.name for x in await secrets.find(org, starting_after=s.id)] == ["B"]
    assert (await secrets.delete(org, s.id)).id == s.id
    with pytest.raises(NotFound):
        await secrets.get(org, s.id)
    assert (await secrets.delete_by_name(org, "B")).id == other.id
    assert await secrets.find(org) == []


async def test_validation(store: Store, box: SecretBox) -> None:
    secrets = AiSecretStore(store, box)
    for body, field in [
        ({"name": ""}, "name"),
        ({"name": "x", "type": "openia"}, "type"),
        ({"name": "x", "secret": 5}, "secret"),
        ({"name": "x", "metadata": [1]}, "metadata"),
    ]:
        with pytest.raises(Invalid) as e:
            await secrets.create("o", body)
        assert e.value.where == {"field": field}


async def test_tenant_isolation(store: Store, box: SecretBox) -> None:
    secrets = AiSecretStore(store, box)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    sa = await secrets.create(a, {"name": "K", "type": "openai", "secret": KEY})
    await secrets.create(b, {"name": "K", "type": "openai", "secret": "sk-b-" + "y" * 30})
    with pytest.raises(NotFound):
        await secrets.get(b, sa.id)
    with pytest.raises(NotFound):
        await secrets.patch(b, sa.id, {"secret": "stolen"})
    with pytest.raises(NotFound):
        await secrets.delete(b, sa.id)
    (rb,), _ = await secrets.revealed(b)
    assert rb.secret.startswith("sk-b-")
    # a sealed value copied into another org's row does not decrypt there
    _, rows = await store.query(
        store.sql("SELECT secret_enc FROM {db}.ai_secrets FINAL WHERE org_id = {o:String}"), {"o": a}
    )
    sb = (await secrets.find(b))[0]
    await store.insert(
        "ai_secrets",
        [
            [
                b,
                sb.id,
                "K",
                "openai",
                "",
                rows[0][0],
                box.key_id,
                "x",
                sb.created,
                sb.updated_at,
                None,
                "",
                2**62,
                0,
            ]
        ],
        COLUMNS,
    )
    revealed, problems = await secrets.revealed(b)
    assert revealed == [] and "does not decrypt" in problems[0]


def test_provider_configs_from_secrets() -> None:
    oa = provider_config(Revealed("OPENAI_API_KEY", "openai", "k", {}))
    assert not isinstance(oa, str) and oa.kind == "openai" and oa.serves("gpt-4o")
    ol = provider_config(Revealed("local", "ollama", "", {"models": ["llama3.1"], "max_concurrency": 3}))
    assert not isinstance(ol, str) and ol.base_url == "http://127.0.0.1:11434/v1" and ol.max_concurrency == 3
    tg = provider_config(Revealed("tg", "together", "k", {}))
    assert not isinstance(tg, str) and tg.models == ("tg/*",)
    az = provider_config(Revealed("az", "azure", "k", {}))
    assert isinstance(az, str) and "api_base" in az
    assert "cannot be called" in str(provider_config(Revealed("g", "google", "k", {})))
    bad = provider_config(Revealed("o", "openai", "k", {"max_concurrency": 0}))
    assert isinstance(bad, str) and "unusable metadata" in bad


async def test_org_models_rebuild_on_change(store: Store, box: SecretBox) -> None:
    secrets = AiSecretStore(store, box)
    models = OrgModels(secrets)
    org = str(uuid.uuid4())
    client, problems = await models.client(org)
    assert client.providers == [] and problems == []
    await secrets.create(org, {"name": "ANTHROPIC_API_KEY", "type": "anthropic", "secret": "k" * 30})
    await secrets.create(org, {"name": "vertex", "type": "vertex", "secret": "k"})
    client, problems = await models.client(org)
    assert [p.name for p in client.providers] == ["ANTHROPIC_API_KEY"]
    assert client.route("claude-sonnet-4-5").provider.name == "ANTHROPIC_API_KEY"
    assert "cannot be called" in problems[0]
    assert (await models.client(org))[0] is client  # cached while nothing changed
    models._entries[org].built -= 3600  # past the TTL, nothing changed: the same client (and limits)
    assert (await models.client(org))[0] is client
    await secrets.create(org, {"name": "OPENAI_API_KEY", "type": "openai", "secret": "k" * 30})
    changed, _ = await models.client(org)
    assert changed is not client and [p.name for p in changed.providers] == [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
    ]
    assert models._retired.pending == 2  # replaced clients are closed later, not under calls in flight
    both = await asyncio.gather(*[models.client(str(uuid.uuid4())) for _ in range(3)])
    assert all(c.providers == [] for c, _ in both)
    await models.aclose()
    assert not models._retired.pending

"""Tenant isolation of AI secrets and of the model gateway (in-process app, two orgs)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.app import ALL, InProcess, in_process
from tests.support.llm_server import Fail, Reply, ScriptedLLM

KEY_A = "sk-org-a-" + "a" * 32


async def model_calls(app: InProcess) -> float:
    """loopline_model_calls_total{provider_kind="openai",operation="chat",outcome="ok"} now."""
    text = (await app.client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "loopline_model_calls_total" and s.labels == {
                "provider_kind": "openai",
                "operation": "chat",
                "outcome": "ok",
            }:
                return float(s.value)
    return 0.0


async def test_one_org_never_sees_or_uses_anothers_secrets(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    async with in_process(chdb_dsn, tmp_path, (*ALL, "evaluator")) as app:
        _, key_b = await app.new_org("other-org")
        a, b = app.headers, {"Authorization": f"Bearer {key_b}"}
        r = await app.client.post(
            "/v1/ai_secret",
            json={
                "name": "OPENAI_API_KEY",
                "type": "openai",
                "secret": KEY_A,
                "metadata": {"api_base": scripted_llm.openai_base_url},
            },
            headers=a,
        )
        assert r.status_code == 200, r.text
        sid = r.json()["id"]
        # org b: not listed, not readable, not changeable, not deletable, not usable
        assert (await app.client.get("/v1/ai_secret", headers=b)).json() == {"objects": []}
        for method, body in (("GET", None), ("PATCH", {"secret": "stolen"}), ("DELETE", None)):
            resp = await app.client.request(method, f"/v1/ai_secret/{sid}", json=body, headers=b)
            assert resp.status_code == 404, (method, resp.text)
        resp = await app.client.request("DELETE", "/v1/ai_secret", json={"name": "OPENAI_API_KEY"}, headers=b)
        assert resp.status_code == 404
        chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        resp = await app.client.post("/v1/proxy/chat/completions", json=chat, headers=b)
        assert resp.status_code == 400 and "no AI provider is configured" in resp.json()["error"]["message"]
        assert scripted_llm.requests == []
        # org a's own call goes out with org a's key (and is counted); an org_name that is not the
        # caller's is refused
        calls_before = await model_calls(app)
        scripted_llm.push(Reply("hello a", usage=(7, 2)))
        resp = await app.client.post("/v1/proxy/chat/completions", json=chat, headers=a)
        assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "hello a"
        assert scripted_llm.requests[-1].api_key == KEY_A
        assert await model_calls(app) == calls_before + 1
        resp = await app.client.get("/v1/ai_secret", params={"org_name": "other-org"}, headers=a)
        assert resp.status_code == 403
        # the secret value never comes back, in any answer
        for resp in (
            await app.client.get("/v1/ai_secret", headers=a),
            await app.client.get(f"/v1/ai_secret/{sid}", headers=a),
            await app.client.put(
                "/v1/ai_secret", json={"name": "OPENAI_API_KEY", "type": "openai"}, headers=a
            ),
        ):
            assert resp.status_code == 200 and KEY_A not in resp.text


async def test_gateway_refuses_bad_requests_clearly(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, (*ALL, "evaluator")) as app:
        h = app.headers
        cases = [
            ("/v1/proxy/chat/completions", b"{not json", "not valid JSON"),
            ("/v1/proxy/chat/completions", b"[]", "JSON object"),
            ("/v1/proxy/chat/completions", b'{"model": "gpt-4o", "messages": []}', "messages"),
            ("/v1/proxy/embeddings", b'{"model": "text-embedding-3-small"}', "input"),
            ("/v1/proxy/responses", b"{}", "not served by Loopline's model gateway"),
        ]
        for path, body, words in cases:
            resp = await app.client.post(
                path, content=body, headers={**h, "content-type": "application/json"}
            )
            assert resp.status_code in (400, 404) and words in resp.json()["error"]["message"], (
                path,
                resp.text,
            )
        resp = await app.client.post(
            "/v1/proxy/embeddings", json={"model": "m", "input": "x"}, headers={**h, "x-bt-cache-ttl": "0"}
        )
        assert resp.status_code == 400 and "x-bt-cache-ttl" in resp.json()["error"]["message"]
        assert (await app.client.post("/v1/proxy/chat/completions", json={})).status_code == 401


async def test_gateway_passes_a_long_rate_limit_on_and_streams_errors(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    async with in_process(chdb_dsn, tmp_path, (*ALL, "evaluator")) as app:
        secret = {
            "name": "oai",
            "type": "openai",
            "secret": KEY_A,
            "metadata": {"api_base": scripted_llm.openai_base_url},
        }
        assert (await app.client.post("/v1/ai_secret", json=secret, headers=app.headers)).status_code == 200
        chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        # a Retry-After longer than the gateway waits: answered at once, as a 429 with it
        scripted_llm.push(Fail(429, "quota exhausted", retry_after=120))
        resp = await app.client.post("/v1/proxy/chat/completions", json=chat, headers=app.headers)
        assert resp.status_code == 429 and resp.headers["retry-after"] == "120"
        err = resp.json()["error"]
        assert err["type"] == "rate_limited" and err["provider"] == "oai" and err["model"] == "gpt-4o"
        assert "quota exhausted" in err["message"]
        assert len(scripted_llm.requests) == 1
        # x-bt-endpoint-name pins a secret by name
        scripted_llm.push(Reply("pinned"))
        resp = await app.client.post(
            "/v1/proxy/chat/completions", json=chat, headers={**app.headers, "x-bt-endpoint-name": "oai"}
        )
        assert resp.status_code == 200 and resp.headers["x-bt-used-endpoint"] == "oai"
        assert scripted_llm.requests[-1].model == "gpt-4o"  # the provider sees its own model name
        resp = await app.client.post(
            "/v1/proxy/chat/completions", json=chat, headers={**app.headers, "x-bt-endpoint-name": "nope"}
        )
        assert resp.status_code == 400 and "names no AI secret" in resp.json()["error"]["message"]
        # a stream whose provider fails before the first chunk: an error status, not a broken stream
        scripted_llm.push(Fail(400, "context too long"))
        resp = await app.client.post(
            "/v1/proxy/chat/completions", json={**chat, "stream": True}, headers=app.headers
        )
        assert resp.status_code == 400 and "context too long" in resp.json()["error"]["message"]

"""The Python SDK against a live oracle (SHARD_TEST_ORACLE_URL): chat, a research brief, and the
contributor flow exactly as the predecessor documented it, plus the oracle's refusals."""

import httpx
import pytest
from nacl.signing import SigningKey

from shard import ShardAPIError, sign_envelope

QUESTION = "Is coffee good for heart health, and does it affect sleep?"
SOURCES = [
    {
        "id": "coffee",
        "title": "Coffee and the heart",
        "content": "Moderate coffee intake of two to three cups a day was associated with a lower risk of heart "
        "disease. The cohort study was observational and cannot prove cause.",
    },
    {
        "id": "sleep",
        "title": "Caffeine and sleep",
        "content": "Caffeine taken six hours before bed reduced total sleep time by about one hour.",
    },
]


def test_chat_completion_whole_and_streamed(client):
    messages = [{"role": "user", "content": "Tell me about the river."}]
    reply = client.chat.completions.create(model="default", messages=messages, max_tokens=12, temperature=0)
    assert reply.object == "chat.completion"
    text = reply.choices[0].message.content
    assert text
    assert reply.usage.completion_tokens > 0
    assert reply.shard.mode in ("standard", "speculative")

    chunks = list(
        client.chat.completions.create(model="default", messages=messages, max_tokens=12, temperature=0, stream=True)
    )
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices) == text
    assert chunks[-1].choices[0].finish_reason == reply.choices[0].finish_reason


def test_chat_error_raises_with_status_and_code(client):
    with pytest.raises(ShardAPIError) as err:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert err.value.status == 404
    assert err.value.code == "model_not_found"


def test_workflow_submit_wait_receipts(client):
    task = client.workflows.submit(question=QUESTION, sources=SOURCES)
    assert task.ok and task.execution_id.startswith("exec-")
    bundle = client.workflows.wait(task.execution_id, timeout=170)
    assert bundle.execution.status == "completed"
    receipts = client.workflows.receipts(task.execution_id)
    assert len(receipts) == bundle.execution.receipt_count
    assert receipts[0].event_kind == "planned"
    assert all(r.node_identity == receipts[0].node_identity for r in receipts)
    assert client.workflows.verify(task.execution_id).valid is True
    assert client.agents.provenance(task.execution_id).nodes


def test_contributor_flow_as_documented(client):
    contributor = client.contribution.create_session()
    ack = contributor.set_participation(True)
    assert ack.ok and ack.detail == "participation enabled"
    ack = contributor.register_node(role="verifier", capacity=1)
    assert ack.ok and ack.detail == "registered"
    assert ack.node.role == "verifier" and ack.node.capacity == 1
    ack = contributor.heartbeat(
        role="verifier",
        queue_depth=0,
        node_latency_ms=24,
        uptime_seconds=15,
        capability_tier="gpu_fast",
        gpu_available=True,
        public_api=True,
    )
    assert ack.ok and ack.detail == "heartbeat accepted"
    assert ack.node.healthy is True
    assert ack.node.last_heartbeat.capability_tier == "gpu_fast"
    status = contributor.status()
    assert status.participation_enabled is True
    assert [n.node_id for n in status.nodes] == [ack.node.node_id]
    assert contributor.whoami().identity == contributor.public_key_hex
    assert contributor.credits().credits == 0
    ack = contributor.deregister_node(role="verifier")
    assert ack.ok and ack.detail == "deregistered"
    assert contributor.status().nodes == []


def test_same_contributor_from_its_seed_and_a_counter_nonce(client):
    first = client.contribution.create_session(nonce_seed=1_700_000_000_000_000)
    again = client.contribution.create_session(seed_hex=first.seed_hex)
    assert again.public_key_hex == first.public_key_hex
    assert first.set_participation(True).ok


def test_refusals_replay_stale_and_wrong_key(oracle_url, client):
    contributor = client.contribution.create_session()
    key = SigningKey(bytes.fromhex(contributor.seed_hex))
    envelope = sign_envelope(key, "participation.set", {"session_id": contributor.session_id, "enabled": True})
    first = httpx.post(f"{oracle_url}/v1/contribution/participation", json=envelope)
    assert first.status_code == 200
    replay = httpx.post(f"{oracle_url}/v1/contribution/participation", json=envelope)
    assert replay.status_code == 409 and replay.json()["code"] == "replayed_nonce"

    stale = sign_envelope(
        key, "participation.set", {"session_id": contributor.session_id, "enabled": False}, timestamp_ms=1
    )
    response = httpx.post(f"{oracle_url}/v1/contribution/participation", json=stale)
    assert response.status_code == 401 and response.json()["code"] == "stale_message"

    stranger = sign_envelope(
        SigningKey.generate(), "participation.set", {"session_id": contributor.session_id, "enabled": False}
    )
    response = httpx.post(f"{oracle_url}/v1/contribution/participation", json=stranger)
    assert response.status_code == 403 and response.json()["code"] == "session_key_mismatch"
    assert contributor.status().participation_enabled is True

    with pytest.raises(ShardAPIError) as err:
        contributor.heartbeat(role="oracle")
    assert err.value.code == "node_not_registered"

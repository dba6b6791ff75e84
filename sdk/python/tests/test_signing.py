"""The Python signing code must produce the bytes the TypeScript protocol code produces: the
expected strings below were printed by src/lib/protocol (canonicalize, signEnvelope,
signContributorHeader) for the same inputs."""

import json

import pytest
from nacl.signing import SigningKey

from shard import CanonicalJsonError, canonicalize, contributor_header, sign_envelope

CANONICAL_VECTORS = [
    (
        {"b": 1, "a": [True, False, None], "c": 'x"\\\n\t\u0001é😀\u2028'},
        '{"a":[true,false,null],"b":1,"c":"x\\"\\\\\\n\\t\\u0001é😀\u2028"}',
    ),
    (
        json.loads(
            "[0,-0,1,-1,0.5,0.1,1e-7,1.5e-7,0.000001,123456789012345680000,1e21,1.2e21,"
            "9007199254740992,24.0,0.002,1e300,-3.25e-10,100,1e20]"
        ),
        "[0,0,1,-1,0.5,0.1,1e-7,1.5e-7,0.000001,123456789012345680000,1e+21,1.2e+21,"
        "9007199254740992,24,0.002,1e+300,-3.25e-10,100,100000000000000000000]",
    ),
    ({"é": 1, "z": 2, "A": 3, "😀": 4, "\uffff": 5}, '{"A":3,"z":2,"é":1,"😀":4,"\uffff":5}'),
    (
        {"nested": {"y": {"b": 2, "a": 1}}, "list": [{"d": 1, "c": 2}]},
        '{"list":[{"c":2,"d":1}],"nested":{"y":{"a":1,"b":2}}}',
    ),
]


@pytest.mark.parametrize("value,expected", CANONICAL_VECTORS)
def test_canonical_json_matches_typescript(value, expected):
    assert canonicalize(value) == expected


def test_canonical_json_refuses_non_json_values():
    with pytest.raises(CanonicalJsonError):
        canonicalize(float("nan"))
    with pytest.raises(CanonicalJsonError):
        canonicalize({"a": object()})


KEY = SigningKey(bytes([7] * 32))


def test_envelope_signature_matches_typescript():
    envelope = sign_envelope(
        KEY,
        "node.register",
        {
            "session_id": "cs-00000000-0000-4000-8000-000000000001",
            "role": "verifier",
            "capacity": 1,
            "price_per_1k_output_usd": 0.002,
            "endpoint": None,
        },
        nonce="nonce-0001",
        timestamp_ms=1700000000000,
    )
    assert "endpoint" not in envelope["payload"]
    assert envelope["signer_pubkey_hex"] == "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    assert envelope["signature_hex"] == (
        "60a677c7d53f0a5849e347f157705969e46360a823ce301c9cb33e009450730118acc177d526fd708a92874223cd1374"
        "184f68e9be6bc626745bc193fef29506"
    )


def test_contributor_header_matches_typescript():
    header = contributor_header(KEY, "POST", "/v1/chat/completions", nonce="hdr-nonce-1", timestamp_ms=1700000000000)
    assert header == (
        "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c.1700000000000.hdr-nonce-1."
        "bf351f1b62997ac726608a11a0a911115e0c08e43583ab69ee99e480726caeadbe1ad9bab3d15547ccf9572b8778adfb"
        "6ebbd1627e86bac105ac6872ca43cb0f"
    )

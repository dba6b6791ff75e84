"""``client.contribution``: the signed contributor control plane (``docs/contribution.md``).

A contributor is an Ed25519 key. Every call sends a fresh envelope
``{type, signer_pubkey_hex, nonce, timestamp_ms, payload, signature_hex}`` signed over
``"shard-contribution/1\\n" + canonical JSON of the envelope without signature_hex``.
"""

import secrets
import time

from nacl.signing import SigningKey

from .canonical import canonical_bytes
from .objects import ContributionAck

SCHEME = "shard-contribution/1"
REQUEST_SCHEME = "shard-contributor-request/1"
CONTRIBUTOR_HEADER = "x-shard-contributor"


def sign_envelope(signing_key, message_type, payload, nonce=None, timestamp_ms=None):
    """A signed envelope of ``message_type`` over ``payload`` (None-valued fields left out)."""
    body = {
        "type": message_type,
        "signer_pubkey_hex": signing_key.verify_key.encode().hex(),
        "nonce": nonce or secrets.token_hex(16),
        "timestamp_ms": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        "payload": {k: v for k, v in payload.items() if v is not None},
    }
    message = SCHEME.encode() + b"\n" + canonical_bytes(body)
    return {**body, "signature_hex": signing_key.sign(message).signature.hex()}


def contributor_header(signing_key, method, path, nonce=None, timestamp_ms=None):
    """The ``x-shard-contributor`` value for one request (``path`` without the query)."""
    timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    nonce = nonce or secrets.token_hex(16)
    message = f"{REQUEST_SCHEME}\n{method.upper()}\n{path}\n{timestamp_ms}\n{nonce}".encode()
    signature = signing_key.sign(message).signature.hex()
    return f"{signing_key.verify_key.encode().hex()}.{timestamp_ms}.{nonce}.{signature}"


class ContributorSession:
    """A session on the oracle bound to one signing key (``public_key_hex``, ``seed_hex``)."""

    def __init__(self, http, signing_key, session, nonce_seed=None):
        self._http = http
        self._key = signing_key
        self._nonce = nonce_seed
        self.session = session
        self.session_id = session["session_id"]
        self.public_key_hex = signing_key.verify_key.encode().hex()
        self.seed_hex = signing_key.encode().hex()

    def _next_nonce(self):
        if self._nonce is None:
            return None
        self._nonce += 1
        return f"{self._nonce:08d}"

    def _send(self, path, message_type, **payload):
        envelope = sign_envelope(
            self._key, message_type, {"session_id": self.session_id, **payload}, nonce=self._next_nonce()
        )
        ack = self._http.post(path, envelope, cls=ContributionAck)
        if "session" in ack:
            self.session = ack.session
        return ack

    def set_participation(self, enabled):
        """Switches contributing on or off; returns ``{ok, detail, session}``."""
        return self._send("/v1/contribution/participation", "participation.set", enabled=bool(enabled))

    def register_node(
        self,
        role="verifier",
        capacity=None,
        supply_tier=None,
        price_per_1k_input_usd=None,
        price_per_1k_output_usd=None,
        endpoint=None,
        model_id=None,
    ):
        """Registers (or updates) this session's node of ``role``; returns ``{ok, detail, node}``."""
        return self._send(
            "/v1/contribution/register-node",
            "node.register",
            node_pubkey=self.public_key_hex,
            role=role,
            capacity=capacity,
            supply_tier=supply_tier,
            price_per_1k_input_usd=price_per_1k_input_usd,
            price_per_1k_output_usd=price_per_1k_output_usd,
            endpoint=endpoint,
            model_id=model_id,
        )

    def heartbeat(
        self,
        role="verifier",
        queue_depth=0,
        node_latency_ms=0,
        uptime_seconds=0,
        capability_tier=None,
        gpu_available=None,
        accepts_scout_work=None,
        public_api=None,
        public_api_addr=None,
    ):
        """Reports the node's health; returns ``{ok, detail, node}``. Send one every 10 s."""
        return self._send(
            "/v1/contribution/heartbeat",
            "node.heartbeat",
            node_pubkey=self.public_key_hex,
            role=role,
            queue_depth=queue_depth,
            node_latency_ms=node_latency_ms,
            uptime_seconds=uptime_seconds,
            capability_tier=capability_tier,
            gpu_available=gpu_available,
            accepts_scout_work=accepts_scout_work,
            public_api=public_api,
            public_api_addr=public_api_addr,
        )

    # The predecessor's separate metrics report is a heartbeat here.
    report_metrics = heartbeat

    def deregister_node(self, role="verifier"):
        """Removes this session's node of ``role``; returns ``{ok, detail, node_id, session}``."""
        return self._send(
            "/v1/contribution/deregister-node", "node.deregister", node_pubkey=self.public_key_hex, role=role
        )

    def status(self):
        """The session and its nodes as the oracle holds them."""
        self.session = self._http.get(f"/v1/contribution/sessions/{self.session_id}").session
        return self.session

    def credits(self):
        """This contributor's credit balance (``credits``, ``by_kind``, ``rates``, ``recent``)."""
        return self._http.get(f"/v1/contribution/credits/{self.public_key_hex}")

    def whoami(self):
        """``{identity, credit}`` as the oracle identifies a request signed with this key."""
        path = "/v1/contribution/identity"
        header = contributor_header(self._key, "GET", path)
        return self._http.get(path, headers={CONTRIBUTOR_HEADER: header})


class Contribution:
    def __init__(self, http):
        self._http = http

    def create_session(self, seed_hex=None, nonce_seed=None, label=None):
        """Creates a session signed by the key of ``seed_hex`` (32 bytes, hex; default a new
        random key). ``nonce_seed`` (an int) makes nonces a counter instead of random."""
        key = SigningKey(bytes.fromhex(seed_hex)) if seed_hex else SigningKey.generate()
        counter = [nonce_seed]

        def nonce():
            if counter[0] is None:
                return None
            counter[0] += 1
            return f"{counter[0]:08d}"

        envelope = sign_envelope(key, "session.create", {"label": label}, nonce=nonce())
        ack = self._http.post("/v1/contribution/sessions", envelope, cls=ContributionAck)
        return ContributorSession(self._http, key, ack.session, nonce_seed=counter[0])

    def credits(self, identity):
        return self._http.get(f"/v1/contribution/credits/{identity}")

    def nodes(self):
        """The registry feed: live verifier and oracle nodes."""
        return self._http.get("/v1/contribution/nodes").nodes

"""Python client for a Shard oracle.

    from shard import ShardClient
    client = ShardClient(base_url="http://localhost:9091")
    client.chat.completions.create(model="default", messages=[...])
    contributor = client.contribution.create_session()
"""

from ._http import DEFAULT_TIMEOUT_S, Http
from .canonical import CanonicalJsonError, canonicalize
from .chat import Chat
from .contribution import Contribution, ContributorSession, contributor_header, sign_envelope
from .errors import ShardAPIError, ShardError, ShardResponseError, ShardTimeoutError
from .objects import ContributionAck, ShardObject
from .workflows import Workflows

__version__ = "0.1.0"

__all__ = [
    "CanonicalJsonError",
    "ContributionAck",
    "ContributorSession",
    "ShardAPIError",
    "ShardClient",
    "ShardError",
    "ShardObject",
    "ShardResponseError",
    "ShardTimeoutError",
    "canonicalize",
    "contributor_header",
    "sign_envelope",
]


class ShardClient:
    """A client of one oracle: ``chat``, ``workflows`` (alias ``agents``) and ``contribution``."""

    def __init__(self, base_url="http://localhost:9091", api_key=None, timeout=DEFAULT_TIMEOUT_S, http_client=None):
        self._http = Http(base_url, api_key=api_key, timeout=timeout, client=http_client)
        self.base_url = self._http.base_url
        self.chat = Chat(self._http)
        self.workflows = Workflows(self._http)
        self.agents = self.workflows
        self.contribution = Contribution(self._http)

    def health(self):
        return self._http.get("/health")

    def close(self):
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

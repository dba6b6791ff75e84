"""The SDK's one HTTP path: JSON in and out, the API key, and error bodies turned into ShardAPIError."""

import httpx

from .errors import ShardAPIError, ShardResponseError
from .objects import ShardObject, wrap

DEFAULT_TIMEOUT_S = 180.0


def api_error(response):
    """ShardAPIError from an error response (OpenAI ``{error: {...}}`` or ``{ok: false, detail, code}``)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = None
    code = None
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        detail = error.get("message") or body.get("detail")
        code = body.get("code") or error.get("code")
    return ShardAPIError(detail or f"HTTP {response.status_code}", response.status_code, code, body)


class Http:
    def __init__(self, base_url, api_key=None, timeout=DEFAULT_TIMEOUT_S, client=None):
        self.base_url = base_url.rstrip("/")
        headers = {"accept": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.client = client or httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def request(self, method, path, body=None, headers=None, cls=ShardObject):
        response = self.client.request(method, path, json=body, headers=headers)
        if response.status_code >= 400:
            raise api_error(response)
        try:
            data = response.json()
        except ValueError:
            raise ShardResponseError(f"{path} answered something that is not JSON") from None
        return wrap(data, cls)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body, **kwargs):
        return self.request("POST", path, body=body, **kwargs)

    def close(self):
        self.client.close()

"""``client.chat.completions.create()``: OpenAI-shaped chat; ``stream=True`` yields chunks from SSE."""

import json
import re

from ._http import api_error
from .errors import ShardAPIError, ShardResponseError
from .objects import wrap


def _lines(chunks):
    """Splits streamed text into lines ending in LF, CRLF or CR (the SSE rule)."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        parts = re.split(r"\r\n|\r|\n", buffer)
        # A CR at the very end may be the first half of CRLF: keep it for the next chunk.
        if buffer.endswith("\r"):
            parts[-2:] = [parts[-2] + "\r"] if len(parts) >= 2 else parts[-2:]
        buffer = parts.pop()
        yield from parts
    if buffer:
        yield buffer.rstrip("\r")


def _sse_events(lines):
    """Yields the data payload of each SSE event (``data:`` lines joined, blank line ends it)."""
    data = []
    for line in lines:
        if line == "":
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])


class Completions:
    def __init__(self, http):
        self._http = http

    def create(self, model="default", messages=None, stream=False, **params):
        """A chat completion (attribute access: ``reply.choices[0].message.content``).

        With ``stream=True``, an iterator of ``chat.completion.chunk`` objects; the last carries
        the ``shard`` stats. Other OpenAI fields (``max_tokens``, ``temperature``, ``seed``, ...)
        pass through. Raises ShardAPIError for an error answer or an error sent mid-stream.
        """
        body = {"model": model, "messages": list(messages or []), **params}
        if not stream:
            return self._http.post("/v1/chat/completions", body)
        return self._stream({**body, "stream": True})

    def _stream(self, body):
        with self._http.client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"accept": "text/event-stream"}
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise api_error(response)
            for payload in _sse_events(_lines(response.iter_text())):
                if payload == "[DONE]":
                    return
                try:
                    event = json.loads(payload)
                except ValueError:
                    raise ShardResponseError("the stream sent something that is not JSON") from None
                if isinstance(event, dict) and "error" in event and "choices" not in event:
                    error = event["error"] or {}
                    raise ShardAPIError(error.get("message", "stream error"), 200, error.get("code"), event)
                yield wrap(event)


class Chat:
    def __init__(self, http):
        self.completions = Completions(http)

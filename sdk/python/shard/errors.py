"""Errors raised by the Shard SDK."""


class ShardError(Exception):
    """Base of the SDK's errors."""


class ShardAPIError(ShardError):
    """The oracle answered with an HTTP error; ``status``, ``code`` and ``detail`` are its own."""

    def __init__(self, detail, status, code=None, body=None):
        super().__init__(f"HTTP {status}{f' {code}' if code else ''}: {detail}")
        self.detail = detail
        self.status = status
        self.code = code
        self.body = body


class ShardResponseError(ShardError):
    """The oracle answered something that is not the documented shape."""


class ShardTimeoutError(ShardError):
    """``workflows.wait()`` ran out of time before the execution ended."""

"""``client.workflows`` (alias ``client.agents``): receipt-first workflows (``research_brief``)."""

import time

from .errors import ShardTimeoutError
from .objects import ShardObject

DEFAULT_WAIT_TIMEOUT_S = 120.0
DEFAULT_POLL_S = 0.25


class Workflows:
    def __init__(self, http):
        self._http = http

    def submit(self, question, sources, policy=None, model=None, idempotency_key=None, wait=False):
        """Submits a research brief. Returns ``{ok, execution_id, status, links}`` (202), or the
        whole bundle ``{ok, execution, receipts, provenance}`` with ``wait=True``."""
        body = {"workflow_kind": "research_brief", "question": question, "sources": list(sources)}
        if policy is not None:
            body["policy"] = policy
        if model is not None:
            body["model"] = model
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        path = "/v1/agents/tasks?wait=true" if wait else "/v1/agents/tasks"
        return self._http.post(path, body, headers=headers)

    def status(self, execution_id):
        """The execution summary (``status`` running | completed | failed | orphaned | corrupted)."""
        return self._http.get(f"/v1/executions/{execution_id}").execution

    def receipts(self, execution_id):
        """The signed receipts, in chain order."""
        return self._http.get(f"/v1/executions/{execution_id}/receipts").receipts

    def provenance(self, execution_id):
        return self._http.get(f"/v1/executions/{execution_id}/provenance").provenance

    def verify(self, execution_id):
        """The oracle's own check of the stored chain (``valid``, ``first_bad``, ``node_public_key``)."""
        return self._http.get(f"/v1/executions/{execution_id}/receipts/verify")

    def capabilities(self):
        return self._http.get("/v1/capabilities").capabilities

    def wait(self, execution_id, timeout=DEFAULT_WAIT_TIMEOUT_S, poll=DEFAULT_POLL_S):
        """Polls until the execution ends; returns ``{ok, execution, receipts, provenance}``.
        Raises ShardTimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            execution = self.status(execution_id)
            if execution.status != "running":
                return ShardObject(
                    ok=execution.status == "completed",
                    execution=execution,
                    receipts=self.receipts(execution_id),
                    provenance=self.provenance(execution_id),
                )
            if time.monotonic() > deadline:
                raise ShardTimeoutError(f"execution {execution_id} is still running")
            time.sleep(poll)

"""The echo backend of iam-gateway (examples/gateway/backend.cpp), for the Python gateway.

NOT A REAL SERVICE: it answers every authorised call with {"echo-backend": true, ...}
describing the request it received, so that a client can see what the gateway forwarded.
An application replaces it with its own services (any object with these three methods)."""
import json

NOTE = "iam-gateway example: no real service behind this route; this is what it would receive"


def _dump(value):
    # As iam-gateway's nlohmann::json dump: keys sorted, no spaces, UTF-8 kept.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parsed(text):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text if isinstance(text, str) else text.decode("utf-8", "replace")


class Forwarded:
    """An authorised request as the gateway rewrote it (its body carries the authorised
    workspace and `actor`, the caller's handle)."""
    __slots__ = ("operation", "workspace", "flow", "body", "actor")

    def __init__(self, operation, workspace, flow, body, actor):
        self.operation, self.workspace, self.flow, self.body, self.actor = operation, workspace, flow, body, actor


class EchoBackend:
    def _describe(self, request):
        out = {"echo-backend": True, "note": NOTE, "operation": request.operation, "actor": request.actor}
        if request.workspace:
            out["workspace"] = request.workspace
        if request.flow:
            out["flow"] = request.flow
        return out

    def call(self, request):
        """A request/response call: (status, JSON object body text)."""
        out = self._describe(request)
        out["request"] = _parsed(request.body)
        return 200, _dump(out)

    def stream_opened(self, stream):
        """A flow import/export stream opened: a first frame to send, or None."""
        return _dump(self._describe(stream))

    def stream_frame(self, stream, frame):
        """A frame received on a stream: a frame to send back, or None."""
        out = self._describe(stream)
        out["received"] = _parsed(frame)
        return _dump(out)

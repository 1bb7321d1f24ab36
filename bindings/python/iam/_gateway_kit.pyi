# Type stubs of the gateway kit's names in iam._iam (bindings/python/src/gateway_kit.cpp).
# Kept apart from _iam.pyi while two branches write the binding; they belong at its end.
import enum
from typing import Optional, Union

from ._iam import Regime

_Text = Union[str, bytes, bytearray]

MASKED: dict[str, bytes]  # auth_failure, access_denied, internal_error, unknown_operation, ...

class Route(enum.Enum):
    IAM: Route
    NAMED: Route
    SERVICE: Route
    FLOW_SERVICE: Route
    FLOW_IMPORT: Route
    FLOW_EXPORT: Route

class Refusal(enum.Enum):
    NONE: Refusal
    BAD_REQUEST: Refusal
    UNKNOWN_OPERATION: Refusal
    UNKNOWN_KIND: Refusal
    AUTH_FAILURE: Refusal
    ACCESS_DENIED: Refusal
    WORKSPACE_NOT_FOUND: Refusal
    INTERNAL_ERROR: Refusal

class GatewayRequest:
    route: Route
    name: str
    flow: str
    workspace: str
    body: bytes
    def __init__(self, route: Route, *, name: str = "", flow: str = "", workspace: str = "",
                 body: Optional[_Text] = None) -> None: ...
    @property
    def has_credential(self) -> bool: ...
    def set_authorization(self, header: Optional[str]) -> None: ...
    def set_query_token(self, query: str) -> None: ...
    def clear_credential(self) -> None: ...

class Outcome:
    @property
    def forward(self) -> bool: ...
    refusal: Refusal
    status: int
    body: bytes
    operation: str
    workspace: str
    flow: str
    reason: str
    handle: str
    identity: Optional[dict[str, str]]

class Enforcer:
    def __init__(self, regime: Regime, *, authentication_ttl: int = 60, decision_ttl: int = 60,
                 authentication_cache_entries: int = 10000, decision_cache_entries: int = 100000,
                 workspace_cache_entries: int = 1000, cache_shards: int = 16, every_workspace_exists: bool = False,
                 max_body_bytes: int = 16777216, max_json_depth: int = 64, log_warnings: bool = True) -> None: ...
    def enforce(self, request: GatewayRequest, *, request_id: str = "", client: str = "") -> Outcome: ...
    @property
    def cached_identities(self) -> int: ...
    @property
    def cached_decisions(self) -> int: ...
    def stats(self) -> dict: ...
    def clear_caches(self) -> None: ...
    @property
    def max_body_bytes(self) -> int: ...
    @property
    def max_json_depth(self) -> int: ...
    def operation_exists(self, name: str) -> bool: ...
    def has_kind(self, kind: str) -> bool: ...

class SocketForward:
    id_json: str
    service: str
    flow: str
    workspace: str
    operation: str
    request: str
    handle: str
    identity: dict[str, str]

class WebSocketSession:
    def __init__(self, enforcer: Enforcer) -> None: ...
    def on_frame(self, frame: _Text) -> tuple[list[str], Optional[SocketForward]]: ...
    @property
    def authenticated(self) -> bool: ...
    @staticmethod
    def response_frame(id_json: str, response_json: str, complete: bool = True) -> str: ...
    @staticmethod
    def internal_error_frame(id_json: str) -> str: ...
    @staticmethod
    def auth_failure_frame(id_json: str) -> str: ...

class IamService:
    def __init__(self, regime: Regime) -> None: ...
    def answer(self, operation: str, request: _Text, *, request_id: str = "",
               client: str = "") -> tuple[int, bytes, str]: ...
    def socket_answer(self, id_json: str, operation: str, request: _Text, *, request_id: str = "",
                      client: str = "") -> tuple[str, int]: ...
    def handle(self, request: _Text) -> str: ...

class Throttle:
    def __init__(self, *, free_failures: int = 5, first_delay: int = 1, max_delay: int = 300,
                 enabled: bool = True) -> None: ...
    def allowed(self, key: str) -> bool: ...
    def failed(self, key: str) -> None: ...
    def succeeded(self, key: str) -> None: ...
    @property
    def refusals(self) -> int: ...
    @property
    def tracked(self) -> int: ...

def answer_for_dispatcher_json(operation: str, response_json: str) -> tuple[int, bytes]: ...
def default_operations_json() -> str: ...

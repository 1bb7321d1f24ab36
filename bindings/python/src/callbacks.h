// Python callables behind the library's callback interfaces (audit sink, random source,
// logger). The library calls them from whichever thread runs the request, usually with the
// GIL released: each call takes the GIL first. An exception raised by the callable is
// reported through sys.unraisablehook and never reaches the library (docs/decisions.md).
#pragma once

#include <memory>

#include "bindings.h"
#include "iam/audit.h"
#include "iam/log.h"
#include "iam/random.h"

namespace iam::python {

// A Python object that may be released on a thread without the GIL (the library drops its
// callbacks wherever the last owner lets go).
class HeldObject {
 public:
  explicit HeldObject(py::object object) : object_(std::move(object)) {}
  HeldObject(const HeldObject&) = delete;
  HeldObject& operator=(const HeldObject&) = delete;
  ~HeldObject();
  const py::object& get() const noexcept { return object_; }

 private:
  py::object object_;
};

// iam.AuditSink from a callable taking one iam.AuditEvent.
std::shared_ptr<iam::AuditSink> callable_audit_sink(py::object callable);
// A RandomSource from a callable taking n and returning n bytes. A callable that fails or
// answers the wrong length is reported and the bytes come from the system's source
// instead: randomness is never weaker than the default.
std::shared_ptr<iam::RandomSource> callable_random(py::object callable);
// A Logger from a callable taking (level: str, message: str).
iam::Logger callable_logger(py::object callable);

// The audit sink an argument names: None (discard), an iam.AuditSink, or a callable.
std::shared_ptr<iam::AuditSink> to_audit_sink(const py::object& value);
// The random source: None (the system's), an iam.RandomSource, or a callable.
std::shared_ptr<iam::RandomSource> to_random(const py::object& value);
// The logger: None (stderr), or a callable.
iam::Logger to_logger(const py::object& value);
// The clock: None (the system clock) or an iam.Clock.
std::shared_ptr<iam::Clock> to_clock(const py::object& value);

}  // namespace iam::python

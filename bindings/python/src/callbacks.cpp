// Python callables behind the library's callback interfaces (callbacks.h).
#include "callbacks.h"

#include <algorithm>
#include <cstring>

namespace iam::python {
namespace {

// Past this point (interpreter shutdown) taking the GIL could block the thread for ever.
bool interpreter_usable() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() != 0 && Py_IsFinalizing() == 0;
#else
  return Py_IsInitialized() != 0 && _Py_IsFinalizing() == 0;
#endif
}

void report(py::error_already_set& error, const char* where) {
  error.discard_as_unraisable(py::str(where));
}

class CallableAuditSink final : public iam::AuditSink {
 public:
  explicit CallableAuditSink(py::object callable) : callable_(std::move(callable)) {}
  void record(const iam::AuditEvent& event) override {
    if (!interpreter_usable()) return;
    py::gil_scoped_acquire gil;
    try {
      callable_.get()(py::cast(event, py::return_value_policy::copy));  // the callable may keep it
    } catch (py::error_already_set& error) {
      report(error, "iam audit callable");
    } catch (const std::exception&) {
      // A conversion failure inside pybind11: the event is dropped, the regime goes on.
    }
  }

 private:
  HeldObject callable_;
};

class CallableRandom final : public iam::RandomSource {
 public:
  explicit CallableRandom(py::object callable) : callable_(std::move(callable)), fallback_(iam::system_random()) {}
  void fill(std::span<std::uint8_t> out) override {
    if (interpreter_usable()) {
      py::gil_scoped_acquire gil;
      try {
        py::object answer = callable_.get()(out.size());
        if (py::isinstance<py::bytes>(answer)) {
          const std::string bytes = answer.cast<std::string>();
          if (bytes.size() == out.size()) {
            std::memcpy(out.data(), bytes.data(), out.size());
            return;
          }
        }
        PyErr_SetString(PyExc_ValueError, "the random callable must return exactly n bytes");
        throw py::error_already_set();
      } catch (py::error_already_set& error) {
        report(error, "iam random callable (system randomness used instead)");
      }
    }
    fallback_->fill(out);
  }

 private:
  HeldObject callable_;
  std::shared_ptr<iam::RandomSource> fallback_;
};

}  // namespace

HeldObject::~HeldObject() {
  if (!interpreter_usable()) {
    object_.release();  // leaked on purpose: no interpreter to give it back to
    return;
  }
  py::gil_scoped_acquire gil;
  object_ = py::object();
}

std::shared_ptr<iam::AuditSink> callable_audit_sink(py::object callable) {
  return std::make_shared<CallableAuditSink>(std::move(callable));
}

std::shared_ptr<iam::RandomSource> callable_random(py::object callable) {
  return std::make_shared<CallableRandom>(std::move(callable));
}

iam::Logger callable_logger(py::object callable) {
  auto held = std::make_shared<HeldObject>(std::move(callable));
  return [held](iam::LogLevel level, std::string_view message) {
    if (!interpreter_usable()) return;
    py::gil_scoped_acquire gil;
    try {
      held->get()(std::string(iam::log_level_name(level)), std::string(message));
    } catch (py::error_already_set& error) {
      report(error, "iam logger callable");
    }
  };
}

std::shared_ptr<iam::AuditSink> to_audit_sink(const py::object& value) {
  if (value.is_none()) return nullptr;
  if (py::isinstance<iam::AuditSink>(value)) return value.cast<std::shared_ptr<iam::AuditSink>>();
  if (!PyCallable_Check(value.ptr())) raise({iam::ErrorCode::invalid_argument, "audit must be None, an iam.AuditSink or a callable"});
  return callable_audit_sink(value);
}

std::shared_ptr<iam::RandomSource> to_random(const py::object& value) {
  if (value.is_none()) return nullptr;
  if (py::isinstance<iam::RandomSource>(value)) return value.cast<std::shared_ptr<iam::RandomSource>>();
  if (!PyCallable_Check(value.ptr()))
    raise({iam::ErrorCode::invalid_argument, "random must be None, an iam.RandomSource or a callable"});
  return callable_random(value);
}

iam::Logger to_logger(const py::object& value) {
  if (value.is_none()) return {};
  if (!PyCallable_Check(value.ptr())) raise({iam::ErrorCode::invalid_argument, "logger must be None or a callable"});
  return callable_logger(value);
}

std::shared_ptr<iam::Clock> to_clock(const py::object& value) {
  if (value.is_none()) return nullptr;
  if (!py::isinstance<iam::Clock>(value)) raise({iam::ErrorCode::invalid_argument, "clock must be None or an iam.Clock"});
  return value.cast<std::shared_ptr<iam::Clock>>();
}

}  // namespace iam::python

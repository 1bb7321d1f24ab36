// The exception hierarchy: iam.Error and one subclass per code of the error taxonomy
// (include/iam/status.h, protocol.md "Error taxonomy"). Each class carries the wire name of
// its code as the class attribute `code`; an instance's message is its only argument.
#include <array>

#include "bindings.h"

namespace iam::python {
namespace {

struct ExceptionSpec {
  iam::ErrorCode code;
  const char* name;
  const char* builtin;  // a built-in exception it also derives from, or nullptr
  const char* doc;
};

constexpr std::array<ExceptionSpec, 9> kExceptions{{
    {iam::ErrorCode::invalid_argument, "InvalidArgument", "ValueError",
     "A request the library refuses as malformed or inconsistent (invalid-argument)."},
    {iam::ErrorCode::not_found, "NotFound", "LookupError", "No such user, workspace, key or record (not-found)."},
    {iam::ErrorCode::duplicate, "Duplicate", nullptr, "The record exists already (duplicate)."},
    {iam::ErrorCode::auth_failed, "AuthenticationFailed", nullptr,
     "Authentication failed (auth-failed). Always the same message, whatever the reason: "
     "the reason goes to the audit sink only."},
    {iam::ErrorCode::weak_password, "WeakPassword", nullptr, "The password breaks the password rules (weak-password)."},
    {iam::ErrorCode::disabled, "Disabled", nullptr, "The user or workspace is disabled (disabled)."},
    {iam::ErrorCode::operation_not_permitted, "OperationNotPermitted", nullptr,
     "The actor may not do this (operation-not-permitted)."},
    {iam::ErrorCode::not_supported, "NotSupported", nullptr,
     "This regime or build does not offer the operation (not-supported)."},
    {iam::ErrorCode::internal_error, "InternalError", nullptr,
     "The library could not decide: storage down, or an unexpected failure (internal-error)."},
}};

// The classes, created once by bind_errors and kept for the life of the process.
std::array<PyObject*, kExceptions.size()> exception_classes{};
PyObject* base_class = nullptr;

PyObject* new_exception(const std::string& qualified, const char* doc, py::tuple bases, py::dict attributes) {
  PyObject* created = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), attributes.ptr());
  if (created == nullptr) throw py::error_already_set();
  return created;
}

}  // namespace

py::handle exception_class(iam::ErrorCode code) {
  for (std::size_t i = 0; i < kExceptions.size(); ++i)
    if (kExceptions[i].code == code) return exception_classes[i];
  return base_class;
}

void bind_errors(py::module_& m) {
  py::dict base_attributes;
  base_attributes["code"] = py::none();
  base_class = new_exception("iam.Error",
                             "Base class of every error the library raises. `code` (a class attribute) is the "
                             "wire name of the error's code (\"not-found\", ...); str(error) is its message.",
                             py::make_tuple(py::handle(PyExc_Exception)), base_attributes);
  m.attr("Error") = py::handle(base_class);
  py::module_ builtins = py::module_::import("builtins");
  for (std::size_t i = 0; i < kExceptions.size(); ++i) {
    const ExceptionSpec& spec = kExceptions[i];
    py::tuple bases = spec.builtin ? py::make_tuple(py::handle(base_class), builtins.attr(spec.builtin))
                                   : py::make_tuple(py::handle(base_class));
    py::dict attributes;
    attributes["code"] = py::str(std::string(iam::error_type_name(spec.code)));
    exception_classes[i] = new_exception(std::string("iam.") + spec.name, spec.doc, bases, attributes);
    m.attr(spec.name) = py::handle(exception_classes[i]);
  }

  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const LibraryError& e) {
      PyErr_SetString(exception_class(e.error.code).ptr(), e.error.message.c_str());
    }
  });

  m.def(
      "error_class",
      [](const std::string& code) -> py::handle {
        const auto parsed = iam::error_code_from_name(code);
        if (!parsed) raise({iam::ErrorCode::invalid_argument, "not an error code of the taxonomy"});
        return exception_class(*parsed);
      },
      py::arg("code"), "The exception class of a wire error code (\"not-found\" -> iam.NotFound).");
}

}  // namespace iam::python

// Conversions between the library's values and Python's (bindings.h).
#include <cmath>

#include "bindings.h"

namespace iam::python {
namespace {

py::object datetime_module() { return py::module_::import("datetime"); }

iam::Error invalid(std::string message) { return {iam::ErrorCode::invalid_argument, std::move(message)}; }

}  // namespace

py::object to_datetime(iam::TimePoint time) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  py::object dt = datetime_module();
  py::object epoch = dt.attr("datetime")(1970, 1, 1, 0, 0, 0, 0, dt.attr("timezone").attr("utc"));
  return epoch + dt.attr("timedelta")(py::arg("microseconds") = micros);
}

py::object to_datetime(const std::optional<iam::TimePoint>& time) {
  if (!time) return py::none();
  return to_datetime(*time);
}

iam::TimePoint from_datetime(const py::handle& value) {
  py::object dt = datetime_module();
  if (!py::isinstance(value, dt.attr("datetime"))) raise(invalid("a time must be a datetime.datetime"));
  if (value.attr("utcoffset")().is_none()) raise(invalid("a time must carry its time zone (an aware datetime)"));
  py::object epoch = dt.attr("datetime")(1970, 1, 1, 0, 0, 0, 0, dt.attr("timezone").attr("utc"));
  py::object delta = value - epoch;
  const auto micros = delta.attr("days").cast<std::int64_t>() * 86'400'000'000LL +
                      delta.attr("seconds").cast<std::int64_t>() * 1'000'000LL +
                      delta.attr("microseconds").cast<std::int64_t>();
  return iam::TimePoint(std::chrono::duration_cast<iam::TimePoint::duration>(std::chrono::microseconds(micros)));
}

std::chrono::nanoseconds to_duration(const py::handle& value) {
  double seconds = 0;
  if (py::isinstance(value, datetime_module().attr("timedelta"))) {
    seconds = value.attr("total_seconds")().cast<double>();
  } else if (py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)) {
    if (py::isinstance<py::bool_>(value)) raise(invalid("a duration must be seconds or a timedelta, not a bool"));
    seconds = value.cast<double>();
  } else {
    raise(invalid("a duration must be seconds (int or float) or a datetime.timedelta"));
  }
  // Ten thousand years is past every duration the library takes, and far inside int64 ns.
  if (!std::isfinite(seconds) || std::fabs(seconds) > 3.2e11) raise(invalid("the duration is out of range"));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(seconds * 1e9)));
}

std::chrono::seconds to_seconds(const py::handle& value) {
  return std::chrono::duration_cast<std::chrono::seconds>(to_duration(value));
}

namespace {
iam::StringMap to_string_map(const py::handle& value, const char* what) {
  iam::StringMap out;
  if (value.is_none()) return out;
  auto add = [&](py::handle key, py::handle component) {
    if (!py::isinstance<py::str>(key) || !py::isinstance<py::str>(component))
      raise(invalid(std::string(what) + " must be a mapping of str to str"));
    out.emplace(key.cast<std::string>(), component.cast<std::string>());
  };
  if (py::isinstance<py::dict>(value)) {  // the common case, without a Python-level items() call
    for (auto [key, component] : py::reinterpret_borrow<py::dict>(value)) add(key, component);
    return out;
  }
  if (!py::hasattr(value, "items")) raise(invalid(std::string(what) + " must be a mapping of str to str"));
  for (auto item : value.attr("items")()) {
    auto pair = item.cast<py::tuple>();
    add(pair[0], pair[1]);
  }
  return out;
}
}  // namespace

iam::Resource to_resource(const py::handle& value) {
  iam::Resource resource;
  for (auto& [name, component] : to_string_map(value, "a resource")) resource.set(name, component);
  return resource;
}

iam::Parameters to_parameters(const py::handle& value) { return to_string_map(value, "parameters"); }

}  // namespace iam::python

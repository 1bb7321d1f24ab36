// nlohmann's own parser is iterative, but the trees it builds are walked recursively
// (copy, dump, comparison), so the depth is bounded in the SAX events while parsing: the
// parse stops at the first container one level too deep, and the partial tree (at most
// max_depth deep) is dropped.
#include "core/bounded_json.h"

#include <utility>

namespace iam {

namespace {

// Wraps a SAX handler (nlohmann's DOM builder or its acceptor) with a depth count.
// nlohmann calls the handler through its static type, so these hide the base's members.
template <class Base>
class DepthBounded : public Base {
 public:
  template <class... Args>
  explicit DepthBounded(std::size_t max_depth, Args&&... args) : Base(std::forward<Args>(args)...), max_depth_(max_depth) {}

  bool start_object(std::size_t elements) { return enter() && Base::start_object(elements); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool start_array(std::size_t elements) { return enter() && Base::start_array(elements); }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }

  bool too_deep() const noexcept { return too_deep_; }

 private:
  bool enter() noexcept {
    if (depth_ >= max_depth_) {
      too_deep_ = true;
      return false;  // stops the parse: sax_parse returns false
    }
    ++depth_;
    return true;
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
};

Error malformed() { return {ErrorCode::invalid_argument, "malformed JSON"}; }
Error too_large() { return {ErrorCode::invalid_argument, "JSON text too large"}; }
Error too_deep() { return {ErrorCode::invalid_argument, "JSON nested too deeply"}; }

template <class Json>
Result<Json> parse_bounded(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) return too_large();
  Json value;
  // allow_exceptions=false: a syntax error is reported by the return value, not thrown.
  DepthBounded<nlohmann::detail::json_sax_dom_parser<Json>> builder(limits.max_depth, value, false);
  if (!Json::sax_parse(text.begin(), text.end(), &builder)) return builder.too_deep() ? too_deep() : malformed();
  return value;
}

}  // namespace

Result<nlohmann::json> parse_json_bounded(std::string_view text, const JsonLimits& limits) {
  return parse_bounded<nlohmann::json>(text, limits);
}

Result<nlohmann::ordered_json> parse_ordered_json_bounded(std::string_view text, const JsonLimits& limits) {
  return parse_bounded<nlohmann::ordered_json>(text, limits);
}

bool json_accepted_bounded(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) return false;
  DepthBounded<nlohmann::detail::json_sax_acceptor<nlohmann::json>> acceptor(limits.max_depth);
  return nlohmann::json::sax_parse(text.begin(), text.end(), &acceptor);
}

}  // namespace iam

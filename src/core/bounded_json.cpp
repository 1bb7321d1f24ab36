// nlohmann's own parser is iterative, but the trees it builds are walked recursively
// (copy, dump, comparison), so the depth is bounded in the SAX events while parsing: the
// parse stops at the first container one level too deep, and the partial tree (at most
// max_depth deep) is dropped.
#include "core/bounded_json.h"

#include <algorithm>
#include <iterator>
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

// Adds the duplicate-key rule to a DepthBounded handler.
template <class Base>
class UniqueKeys : public DepthBounded<Base> {
 public:
  using DepthBounded<Base>::DepthBounded;

  bool start_object(std::size_t elements) {
    if (!DepthBounded<Base>::start_object(elements)) return false;
    keys_.open_object();
    return true;
  }
  bool key(typename Base::string_t& name) {
    keys_.add_key(name);
    return Base::key(name);
  }
  bool end_object() {
    if (!keys_.close_object()) {
      duplicate_ = true;
      return false;
    }
    return DepthBounded<Base>::end_object();
  }

  bool duplicate() const noexcept { return duplicate_; }

 private:
  DuplicateKeyCheck keys_;
  bool duplicate_ = false;
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

bool DuplicateKeyCheck::close_object() {
  // Sorting this object's keys puts any two equal ones side by side.
  const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(object_starts_.back());
  bool unique = true;
  if (keys_.end() - first > 1) {
    std::sort(first, keys_.end());
    unique = std::adjacent_find(first, keys_.end()) == keys_.end();
  }
  keys_.erase(first, keys_.end());
  object_starts_.pop_back();
  return unique;
}

Result<nlohmann::json> parse_json_bounded_unique_keys(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) return too_large();
  nlohmann::json value;
  UniqueKeys<nlohmann::detail::json_sax_dom_parser<nlohmann::json>> builder(limits.max_depth, value, false);
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &builder)) {
    if (builder.duplicate()) return Error{ErrorCode::invalid_argument, "duplicate JSON key"};
    return builder.too_deep() ? too_deep() : malformed();
  }
  return value;
}

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

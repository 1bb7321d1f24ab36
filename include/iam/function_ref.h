// iam/function_ref.h — a non-owning reference to a callable, for a callback that does not
// outlive the call it is passed to (no allocation, unlike std::function).
//
// THREAD SAFETY: as safe as the callable. OWNERSHIP: borrows the callable, which must
// outlive every call through the reference. ERRORS: none of its own.
#pragma once

#include <type_traits>
#include <utility>

namespace iam {

template <class Signature>
class FunctionRef;
template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor): passed as an argument
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... args) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...); }) {}
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace iam

// src/core/mutex.h — mutexes that clang's thread-safety analysis understands (internal).
//
// std::mutex carries no capability attributes, so -Wthread-safety cannot check members
// guarded by it. These thin wrappers add them; a CI build compiles with
// -Wthread-safety -Werror=thread-safety (clang), other compilers see plain mutexes.
//
// Use: `Mutex mu_; std::map<…> cache_ IAM_GUARDED_BY(mu_);` then `MutexLock lock(mu_);`
// (or `ReaderLock` on a SharedMutex) in every function that touches cache_.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define IAM_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define IAM_THREAD_ANNOTATION_(x)
#endif

#define IAM_CAPABILITY(name) IAM_THREAD_ANNOTATION_(capability(name))
#define IAM_SCOPED_CAPABILITY IAM_THREAD_ANNOTATION_(scoped_lockable)
#define IAM_GUARDED_BY(mu) IAM_THREAD_ANNOTATION_(guarded_by(mu))
#define IAM_PT_GUARDED_BY(mu) IAM_THREAD_ANNOTATION_(pt_guarded_by(mu))
#define IAM_REQUIRES(...) IAM_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define IAM_REQUIRES_SHARED(...) IAM_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
#define IAM_EXCLUDES(...) IAM_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define IAM_ACQUIRE(...) IAM_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define IAM_ACQUIRE_SHARED(...) IAM_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))
#define IAM_RELEASE(...) IAM_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define IAM_RELEASE_SHARED(...) IAM_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
#define IAM_RELEASE_GENERIC(...) IAM_THREAD_ANNOTATION_(release_generic_capability(__VA_ARGS__))
#define IAM_NO_THREAD_SAFETY_ANALYSIS IAM_THREAD_ANNOTATION_(no_thread_safety_analysis)

namespace iam {

class IAM_CAPABILITY("mutex") Mutex {
 public:
  void lock() IAM_ACQUIRE() { mu_.lock(); }
  void unlock() IAM_RELEASE() { mu_.unlock(); }
  // For std::condition_variable_any and the like, which lock and unlock it themselves.
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

class IAM_CAPABILITY("shared mutex") SharedMutex {
 public:
  void lock() IAM_ACQUIRE() { mu_.lock(); }
  void unlock() IAM_RELEASE() { mu_.unlock(); }
  void lock_shared() IAM_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() IAM_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex (or a SharedMutex exclusively) for its scope.
template <class M>
class IAM_SCOPED_CAPABILITY BasicMutexLock {
 public:
  explicit BasicMutexLock(M& mu) IAM_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~BasicMutexLock() IAM_RELEASE() { mu_.unlock(); }
  BasicMutexLock(const BasicMutexLock&) = delete;
  BasicMutexLock& operator=(const BasicMutexLock&) = delete;

 private:
  M& mu_;
};
using MutexLock = BasicMutexLock<Mutex>;
using WriterLock = BasicMutexLock<SharedMutex>;

// Holds a SharedMutex shared for its scope.
class IAM_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) IAM_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  ~ReaderLock() IAM_RELEASE() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace iam

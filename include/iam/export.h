// iam/export.h — IAM_EXPORT marks what the shared library exports.
//
// libiam is built with hidden symbol visibility, so a consumer sees exactly the classes
// and functions of the public headers that carry IAM_EXPORT; the library's internals (its
// src/ namespaces, and the templates it instantiates from nlohmann/json and the like) stay
// private to it and may change without breaking an application. Linking the static archive
// is unaffected.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define IAM_EXPORT __attribute__((visibility("default")))
#else
#define IAM_EXPORT
#endif

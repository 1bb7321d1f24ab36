// iam/log.h — where the library's operator log lines go.
//
// The library never logs a secret (password, key plaintext, token, hash, private key).
// THREAD SAFETY: a Logger may be called from many threads at once; the default one (stderr,
// one line per call) is safe. OWNERSHIP: copied into whatever is configured with it.
#pragma once

#include <functional>
#include <string_view>

#include "iam/export.h"

namespace iam {

enum class LogLevel { debug, info, warning, error };
IAM_EXPORT std::string_view log_level_name(LogLevel level) noexcept;

using Logger = std::function<void(LogLevel level, std::string_view message)>;

// Writes "iam <level>: <message>" lines to stderr.
IAM_EXPORT Logger stderr_logger();
// Discards everything.
IAM_EXPORT Logger null_logger();

}  // namespace iam

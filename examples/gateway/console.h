// The admin console's static files (console/), compiled into iam-gateway, and the answers
// for GET /console/...: the files with a strict Content-Security-Policy and the other
// browser-hardening headers; /console redirects to /console/; anything else is 404.
#pragma once

#include <string_view>
#include <vector>

#include "handler.h"

namespace gateway {

struct ConsoleFile {
  std::string_view path;  // relative to console/, e.g. "pages/account.js"
  std::string_view content_type;
  std::string_view body;
};

// Generated at build time by embed_console.py (console/meson.build lists the files).
const std::vector<ConsoleFile>& console_files();

// "/console" or anything under "/console/" (the path without its query).
bool is_console_path(std::string_view path);

// The answer for a console path: 200 with the file, 301 /console → /console/, 404 for an
// unknown file, 405 for a method other than GET. Every one carries the security headers.
Response console_response(std::string_view method, std::string_view path);

}  // namespace gateway

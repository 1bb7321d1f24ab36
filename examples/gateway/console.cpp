#include "console.h"

#include <array>
#include <utility>

namespace gateway {
namespace {

constexpr std::string_view prefix = "/console";

// Nothing from another host, no inline script or style, never framed (docs/gateway.md).
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> security_headers{{
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
    {"X-Frame-Options", "DENY"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    // The files change only with the binary: revalidate rather than serve a stale console.
    {"Cache-Control", "no-cache"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
}};

Response with_headers(Response response) {
  for (const auto& [name, value] : security_headers) response.headers.emplace_back(name, value);
  return response;
}

Response plain(int status, std::string body, std::string reason) {
  Response response{status, std::move(body), {}, {}, std::move(reason)};
  response.content_type = "text/plain; charset=utf-8";
  return with_headers(std::move(response));
}

}  // namespace

bool is_console_path(std::string_view path) {
  return path == prefix || (path.starts_with(prefix) && path.size() > prefix.size() && path[prefix.size()] == '/');
}

Response console_response(std::string_view method, std::string_view path) {
  if (method != "GET") {
    Response response = plain(405, "method not allowed\n", "method not allowed");
    response.headers.emplace_back("Allow", "GET");
    return response;
  }
  if (path == prefix) {
    Response response = plain(301, "moved to /console/\n", {});
    response.headers.emplace_back("Location", "/console/");
    return response;
  }
  std::string_view file = path.substr(prefix.size() + 1);
  if (file.empty()) file = "index.html";
  for (const ConsoleFile& candidate : console_files()) {
    if (candidate.path != file) continue;
    Response response{200, std::string(candidate.body), {}, {}, {}};
    response.content_type = std::string(candidate.content_type);
    return with_headers(std::move(response));
  }
  return plain(404, "not found\n", "no such console file");
}

}  // namespace gateway

// regimes/oidc/http_curl.cpp — make_curl_getter: HTTP GET through libcurl (jwks_client.h).
//
// One easy handle per request: fetches are rare (start, max-age, an unknown kid), so
// connection reuse is not worth shared state between threads. Redirects are not followed
// (docs/decisions.md): a 3xx is an answer other than 200, which the caller refuses.
#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>

#include "cache_control.h"
#include "jwks_client.h"

namespace iam::oidc {
namespace {

// curl_global_init is not thread-safe and must run once before any handle exists.
CURLcode global_init_once() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

struct Transfer {
  std::size_t max_body_bytes = 0;
  std::string body;
  bool body_too_large = false;
  std::string cache_control;  // every Cache-Control line of the final response, comma-joined
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (bytes > transfer.max_body_bytes - transfer.body.size()) {
    transfer.body_too_large = true;
    return 0;  // a short count aborts the transfer (CURLE_WRITE_ERROR)
  }
  transfer.body.append(data, bytes);
  return bytes;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  constexpr std::string_view name = "cache-control:";
  if (starts_with_ignoring_case(line, "http/")) {
    transfer.cache_control.clear();  // a new response (after a 100 Continue): its own headers
  } else if (starts_with_ignoring_case(line, name)) {
    std::string_view value = line.substr(name.size());
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.remove_suffix(1);
    if (!transfer.cache_control.empty()) transfer.cache_control += ',';
    transfer.cache_control.append(value);
  }
  return bytes;
}

class CurlGetter final : public HttpGetter {
 public:
  explicit CurlGetter(HttpLimits limits) : limits_(limits) {}

  Result<HttpResponse> get(const std::string& url) override {
    if (global_init_once() != CURLE_OK) return Error{ErrorCode::internal_error, "libcurl failed to initialise"};
    const std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl) return Error{ErrorCode::internal_error, "libcurl: no handle"};
    Transfer transfer;
    transfer.max_body_bytes = limits_.max_body_bytes;
    CURL* h = curl.get();
    char curl_error[CURL_ERROR_SIZE] = {};
    const bool options_set =
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_URL, url.c_str()) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&  // no SIGALRM in a threaded process
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(limits_.connect_timeout.count())) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(limits_.total_timeout.count())) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits_.max_body_bytes)) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_USERAGENT, "iam-oidc") == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer) == CURLE_OK;
    if (!options_set) return Error{ErrorCode::internal_error, "libcurl refused an option"};

    const CURLcode code = curl_easy_perform(h);
    if (transfer.body_too_large || code == CURLE_FILESIZE_EXCEEDED)
      return Error{ErrorCode::invalid_argument,
                   "GET " + url + ": response body over " + std::to_string(limits_.max_body_bytes) + " bytes"};
    if (code != CURLE_OK)
      return Error{ErrorCode::internal_error,
                   "GET " + url + ": " + (curl_error[0] != '\0' ? std::string(curl_error) : curl_easy_strerror(code))};
    HttpResponse response;
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status) != CURLE_OK)
      return Error{ErrorCode::internal_error, "GET " + url + ": no status"};
    response.body = std::move(transfer.body);
    response.max_age = parse_cache_control_max_age(transfer.cache_control);
    return response;
  }

 private:
  const HttpLimits limits_;
};

}  // namespace

std::shared_ptr<HttpGetter> make_curl_getter(HttpLimits limits) {
  (void)global_init_once();  // here, before the caller starts threads; get() checks the result
  return std::make_shared<CurlGetter>(limits);
}

}  // namespace iam::oidc

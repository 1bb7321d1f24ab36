#include "remote.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "core/bounded_json.h"  // the library's bounded parser (iamctl links the static library)
#include "iam/secret.h"

namespace iamctl {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

constexpr std::uint64_t kMaxAnswerBytes = 64ull << 20;  // a list of many users still fits

struct GatewayUrl {
  std::string host;         // without IPv6 brackets, for the resolver
  std::string port = "80";
  std::string base;         // path prefix without a trailing slash
  std::string host_header;  // host[:port] as written
};

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The URL itself is echoed in no message: only host and port, which carry no secret.
GatewayUrl parse_url(std::string_view url) {
  const std::string shape = "the gateway URL must look like http://host:port[/base]";
  for (unsigned char c : url)
    if (c <= 0x20 || c >= 0x7f) throw UsageError{shape + " (no spaces or control characters)"};
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) throw UsageError{shape};
  const std::string scheme = lowercase(url.substr(0, sep));
  if (scheme == "https")
    throw UsageError{"https not supported by this example client; use http:// (for example to a TLS-terminating proxy on the same host)"};
  if (scheme != "http") throw UsageError{shape};
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) throw UsageError{shape + " (no query or fragment)"};
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos)
    throw UsageError{"credentials in the gateway URL are not supported; use $IAM_TOKEN or --token"};

  GatewayUrl parsed;
  parsed.host_header = std::string(authority);
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw UsageError{shape};
    parsed.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw UsageError{shape};
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) throw UsageError{shape + " (no host)"};
  if (!port.empty()) {
    const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535)
      throw UsageError{shape + " (bad port)"};
    parsed.port = std::string(port);
  }
  if (slash != std::string_view::npos) {
    std::string_view base = rest.substr(slash);
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    parsed.base = std::string(base);
  }
  return parsed;
}

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// One synchronous HTTP/1.1 exchange. The steps run as asynchronous operations on a private
// io_context only because that is how Beast applies timeouts.
class HttpClient {
 public:
  HttpClient(GatewayUrl url, std::chrono::seconds timeout) : url_(std::move(url)), timeout_(timeout) {}

  HttpAnswer exchange(http::verb method, const std::string& path, const std::string* body, const std::string* token) const {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    beast::error_code ec;
    const std::string& where = url_.host_header;

    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url_.host, url_.port, [&](beast::error_code e, tcp::resolver::results_type results) {
      ec = e;
      endpoints = std::move(results);
    });
    ioc.run_for(timeout_);
    if (!ioc.stopped()) {  // the resolver has no timeout of its own
      resolver.cancel();
      ioc.run();
      throw std::runtime_error("cannot resolve " + url_.host + ": timed out");
    }
    if (ec) throw std::runtime_error("cannot resolve " + url_.host + ": " + ec.message());

    auto run = [&] {
      ioc.restart();
      ioc.run();
    };
    auto check = [&](const char* what) {
      if (ec == beast::error::timeout) throw std::runtime_error(std::string(what) + " " + where + ": timed out");
      if (ec) throw std::runtime_error(std::string(what) + " " + where + ": " + ec.message());
    };

    stream.expires_after(timeout_);
    stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    check("cannot connect to");

    http::request<http::string_body> request{method, url_.base + path, 11};
    request.set(http::field::host, url_.host_header);
    request.set(http::field::user_agent, "iamctl");
    request.set(http::field::accept, "application/json");
    request.set(http::field::connection, "close");
    if (token && !token->empty()) request.set(http::field::authorization, "Bearer " + *token);
    if (body) {
      request.set(http::field::content_type, "application/json");
      request.body() = *body;
    }
    request.prepare_payload();
    stream.expires_after(timeout_);
    http::async_write(stream, request, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    iam::wipe(request.body());  // it may have held a password
    check("cannot send to");

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    stream.expires_after(timeout_);
    http::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    check("no answer from");

    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    auto response = parser.release();
    return HttpAnswer{static_cast<int>(response.result_int()), std::move(response.body())};
  }

 private:
  GatewayUrl url_;
  std::chrono::seconds timeout_;
};

std::string string_field(const json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Reply interpret(const HttpAnswer& answer) {
  Reply reply;
  reply.http_status = answer.status;
  // A server's answer is bounded in depth as well as size (kMaxAnswerBytes) before use.
  auto parsed = iam::parse_json_bounded(answer.body, iam::answer_json_limits);
  if (!parsed || !parsed->is_object())
    throw std::runtime_error("unparseable answer from the gateway (HTTP " + std::to_string(answer.status) + ")");
  reply.body = std::move(*parsed);
  if (answer.status >= 200 && answer.status < 300) {
    if (reply.body.contains("error"))  // a 2xx carrying an IAM error: judge it like a local one
      reply.outcome = string_field(reply.body["error"], "type") == "internal-error" ? Outcome::internal : Outcome::refused;
  } else if (answer.status >= 400 && answer.status < 500) {
    reply.outcome = Outcome::refused;
  } else {
    reply.outcome = Outcome::internal;
  }
  return reply;
}

class RemoteBackend final : public Backend {
 public:
  RemoteBackend(GatewayUrl url, RemoteTarget target)
      : client_(std::move(url), target.timeout), token_(std::move(target.token)) {}
  ~RemoteBackend() override { iam::wipe(token_); }
  RemoteBackend(const RemoteBackend&) = delete;
  RemoteBackend& operator=(const RemoteBackend&) = delete;

  Reply call(const json& request) override {
    const std::string operation = string_field(request, "operation");
    if (operation == "login") {
      json body = request;
      body.erase("operation");
      body.erase("actor");
      return post("/api/v1/auth/login", body, /*authenticated=*/false);
    }
    if (operation == "bootstrap" || operation == "bootstrap-status")
      return post("/api/v1/auth/" + operation, json::object(), false);
    if (operation == "change-password") {
      // The route acts on the caller; its body names the current password differently.
      const json body = {{"current_password", string_field(request, "password")},
                         {"new_password", string_field(request, "new_password")}};
      return post("/api/v1/auth/change-password", body, true);
    }
    json body = request;
    body.erase("actor");  // the gateway sets it from the token
    return post("/api/v1/iam", body, true);
  }

  Reply jwks() override { return interpret(client_.exchange(http::verb::get, "/api/v1/auth/jwks", nullptr, nullptr)); }

 private:
  Reply post(const std::string& path, const json& body, bool authenticated) {
    std::string text = body.dump();
    HttpAnswer answer = client_.exchange(http::verb::post, path, &text, authenticated ? &token_ : nullptr);
    iam::wipe(text);
    Reply reply = interpret(answer);
    if (authenticated && token_.empty() && answer.status == 401)
      reply.hint = "no token was sent: set $IAM_TOKEN (or pass --token)";
    iam::wipe(answer.body);  // it may have held a one-time secret; reply.body has it now
    return reply;
  }

  HttpClient client_;
  std::string token_;
};

}  // namespace

std::unique_ptr<Backend> make_remote_backend(RemoteTarget target) {
  GatewayUrl url = parse_url(target.url);
  for (unsigned char c : target.token)
    if (c <= 0x20 || c >= 0x7f) throw UsageError{"the token holds characters that cannot travel in an HTTP header"};
  return std::make_unique<RemoteBackend>(std::move(url), std::move(target));
}

}  // namespace iamctl

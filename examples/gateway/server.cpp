#include "server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <deque>
#include <limits>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "console.h"
#include "core/mutex.h"
#include "iam/audit.h"
#include "iam/clock.h"
#include "iam/websocket_session.h"
#include "json_text.h"
#include "listen.h"

namespace gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view too_large_body = R"({"error":"request body too large"})";
constexpr std::string_view upgrade_required_body = R"({"error":"websocket upgrade required"})";
constexpr std::string_view header_too_large_body = R"({"error":"request header too large"})";
constexpr std::string_view line_too_long_body = R"({"error":"request line too long"})";
constexpr std::string_view busy_body = R"({"error":"too many connections"})";
// Connections past max_connections are answered 503 while this many more are open; beyond
// that they are closed unanswered, so a connection flood cannot grow the refusals either.
constexpr std::size_t refusal_headroom = 64;

// One request's access-log line. Never a body, a header or a query string: those are
// where credentials and passwords travel. Empty strings and unset numbers are left out.
struct AccessLine {
  std::uint64_t request_id = 0;
  std::string method;
  std::string path;
  std::optional<int> status;
  std::string principal;
  std::string operation;
  std::string reason;
  std::string outcome;
  std::optional<double> latency_ms;
};

std::string number_text(double value) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  return std::string(buffer, end);
}

// The line as one JSON object, written directly (json_text.h).
std::string access_line_text(const AccessLine& line) {
  std::string out;
  using json_text::append_member;
  out.reserve(256);
  out.append("{\"time\":\"").append(iam::format_rfc3339(std::chrono::system_clock::now())).append("\"");
  out.append(",\"request_id\":").append(std::to_string(line.request_id));
  append_member(out, "method", line.method);
  append_member(out, "path", line.path);
  if (line.status) out.append(",\"status\":").append(std::to_string(*line.status));
  if (!line.principal.empty()) append_member(out, "principal", line.principal);
  if (!line.operation.empty()) append_member(out, "operation", line.operation);
  if (!line.reason.empty()) append_member(out, "reason", line.reason);
  if (!line.outcome.empty()) append_member(out, "outcome", line.outcome);
  if (line.latency_ms) out.append(",\"latency_ms\":").append(number_text(*line.latency_ms));
  out.append("}\n");
  return out;
}

// One JSON line per request on stderr.
class AccessLog {
 public:
  void write(const AccessLine& line) {
    const std::string text = access_line_text(line);
    const iam::MutexLock lock(mutex_);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  }

 private:
  iam::Mutex mutex_;  // one whole line at a time on stderr
};

// Something a shutdown must close: a connection.
class Closable {
 public:
  virtual ~Closable() = default;
  virtual void close() = 0;
};

class Tracker {
 public:
  void add(const std::shared_ptr<Closable>& session) {
    const iam::MutexLock lock(mutex_);
    live_[session.get()] = session;
  }
  void remove(Closable* session) {
    const iam::MutexLock lock(mutex_);
    live_.erase(session);
  }
  bool empty() {
    const iam::MutexLock lock(mutex_);
    return live_.empty();
  }
  void close_all() {
    std::vector<std::shared_ptr<Closable>> sessions;
    {
      const iam::MutexLock lock(mutex_);
      for (auto& [raw, weak] : live_)
        if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
    for (auto& session : sessions) session->close();
  }

 private:
  iam::Mutex mutex_;
  std::unordered_map<Closable*, std::weak_ptr<Closable>> live_ IAM_GUARDED_BY(mutex_);
};

struct Shared {
  std::shared_ptr<const Handler> handler;
  ServerOptions options;
  net::thread_pool workers;
  AccessLog log;
  Tracker tracker;
  std::atomic<std::uint64_t> next_request_id{1};

  // A finished request: its access log line, and TrustGraph's gateway.request audit event
  // (the line's fields, the client's address and the authorised workspace; never a
  // credential: the line holds none).
  void finished(const AccessLine& line, std::string_view client, std::string_view workspace = {}) {
    log.write(line);
    if (!options.audit) return;
    iam::AuditEvent event{"gateway.request", std::chrono::system_clock::now(), {}};
    auto add = [&](const char* name, const std::string& value) {
      if (!value.empty()) event.fields.emplace_back(name, value);
    };
    add("method", line.method);
    add("path", line.path);
    add("operation", line.operation);
    if (line.status) event.fields.emplace_back("status", std::to_string(*line.status));
    add("principal", line.principal);
    if (!workspace.empty()) event.fields.emplace_back("workspace", std::string(workspace));
    if (line.latency_ms) event.fields.emplace_back("latency_ms", number_text(*line.latency_ms));
    event.fields.emplace_back("request_id", std::to_string(line.request_id));
    if (!client.empty()) event.fields.emplace_back("client_ip", std::string(client));
    try {
      options.audit->record(event);
    } catch (...) {
      // an audit sink never changes a response
    }
  }
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};  // open HTTP and WebSocket connections

  Shared(std::shared_ptr<const Handler> h, ServerOptions o)
      : handler(std::move(h)), options(std::move(o)), workers(std::max<std::size_t>(1, options.workers)) {}
};

// Counts a connection as open for as long as it lives.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::atomic<std::size_t>& count) : count_(count) { ++count_; }
  ~ConnectionSlot() { --count_; }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::atomic<std::size_t>& count_;
};

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void report_response(const ServerOptions& options, const RouteMatch& route, int status, double milliseconds) {
  if (options.on_response) options.on_response(route, status, milliseconds / 1000.0);
}

AccessLine log_line(std::uint64_t request_id, std::string_view method, std::string_view path) {
  AccessLine line;
  line.request_id = request_id;
  line.method = method;
  line.path = path;
  return line;
}

// ------------------------------------------------------------------ WebSocket

// A flow import/export stream as authorised at its upgrade: what goes to the backend, and
// what is needed to authorise it again (the route and the ?token= credential).
struct StreamGrant {
  Forwarded forwarded;
  RouteMatch route;
  std::optional<iam::SecretString> credential;
  std::string path;  // for the access log (never the query, which holds the credential)
};

// A WebSocket connection: /api/v1/socket (first-frame authentication, per-frame
// authorisation through iam::WebSocketSession) or a flow import/export stream (authorised
// at the upgrade by its ?token=, and again before every frame it forwards, through the
// Enforcer's invalidated cache: a revoked key, a disabled user or an expired token closes
// the stream with 1008 instead of forwarding the frame).
class SocketConnection final : public Closable, public std::enable_shared_from_this<SocketConnection> {
 public:
  SocketConnection(tcp::socket&& socket, std::shared_ptr<Shared> shared, std::optional<StreamGrant> grant,
                   std::string client)
      : ws_(std::move(socket)),
        shared_(std::move(shared)),
        slot_(shared_->connections),
        session_(shared_->handler->shared_enforcer()),
        grant_(std::move(grant)),
        client_(std::move(client)) {}
  ~SocketConnection() override { shared_->tracker.remove(this); }

  void start(http::request<http::string_body> upgrade) {
    shared_->tracker.add(shared_from_this());
    upgrade_ = std::move(upgrade);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "iam-gateway"); }));
    ws_.read_message_max(shared_->options.max_socket_message);  // Beast closes with 1009 above it
    ws_.async_accept(upgrade_, beast::bind_front_handler(&SocketConnection::on_accept, shared_from_this()));
  }

  void close() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      if (!self->ws_.is_open()) return;
      self->ws_.async_close(websocket::close_code::going_away, [self](beast::error_code) {});
    });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;
    if (grant_) {
      if (auto first = shared_->handler->backend().stream_opened(grant_->forwarded)) send(std::move(*first));
    }
    read();
  }

  void read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&SocketConnection::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return;  // closed by the peer, or a protocol error: the connection ends
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (grant_) {
      if (!stream_still_authorised()) return;  // closing: nothing more is read or forwarded
      if (auto reply = shared_->handler->backend().stream_frame(grant_->forwarded, text)) send(std::move(*reply));
    } else {
      on_socket_frame(text);
    }
    read();
  }

  // The stream's credential and operation, enforced again as at the upgrade (cheap: a
  // cache hit unless an invalidation dropped it). A refusal closes the stream.
  bool stream_still_authorised() {
    std::optional<std::string> credential;
    if (grant_->credential) credential = std::string(grant_->credential->view());
    const std::uint64_t request_id = shared_->next_request_id++;
    const iam::ScopedAuditContext context({std::to_string(request_id), client_});
    auto begun = shared_->handler->begin(grant_->route, {}, std::move(credential));
    if (std::holds_alternative<Pending>(begun)) return true;
    const Response& refused = std::get<Response>(begun);
    AccessLine line = log_line(request_id, "WS", grant_->path);
    line.principal = grant_->forwarded.identity.handle;
    line.outcome = "closed";
    line.status = refused.status;
    line.reason = refused.reason;
    shared_->finished(line, client_, grant_->forwarded.workspace);
    ws_.async_close(websocket::close_code::policy_error, [self = shared_from_this()](beast::error_code) {});
    return false;
  }

  void on_socket_frame(std::string_view text) {
    const auto started = Clock::now();
    const std::uint64_t request_id = shared_->next_request_id++;
    const iam::ScopedAuditContext context({std::to_string(request_id), client_});
    auto reply = session_.on_frame(text);
    for (auto& frame : reply.frames) send(std::move(frame));
    AccessLine line = log_line(request_id, "WS", "/api/v1/socket");
    if (!reply.forward) {
      line.outcome = session_.authenticated() ? "answered" : "unauthenticated";
      line.latency_ms = milliseconds_since(started);
      shared_->finished(line, client_);
      return;
    }
    line.principal = reply.forward->identity.handle;
    line.operation = reply.forward->operation;
    line.outcome = "forwarded";
    if (reply.forward->service == "iam" && Handler::is_slow_operation(reply.forward->operation)) {
      net::post(shared_->workers, [self = shared_from_this(), forward = std::move(*reply.forward),
                                   line = std::move(line), started, request_id]() mutable {
        const iam::ScopedAuditContext context({std::to_string(request_id), self->client_});
        std::string answer = self->shared_->handler->socket_answer(forward, self->client_);
        line.latency_ms = milliseconds_since(started);
        self->shared_->finished(line, self->client_, forward.workspace);
        net::post(self->ws_.get_executor(), [self, answer = std::move(answer)]() mutable { self->send(std::move(answer)); });
      });
      return;
    }
    send(shared_->handler->socket_answer(*reply.forward, client_));
    line.latency_ms = milliseconds_since(started);
    shared_->finished(line, client_, reply.forward->workspace);
  }

  // Frames go out one at a time, in order.
  void send(std::string frame) {
    outbox_.push_back(std::move(frame));
    if (outbox_.size() == 1) write_next();
  }

  void write_next() {
    ws_.text(true);
    ws_.async_write(net::buffer(outbox_.front()),
                    beast::bind_front_handler(&SocketConnection::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return;
    outbox_.pop_front();
    if (!outbox_.empty()) write_next();
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<Shared> shared_;
  ConnectionSlot slot_;
  iam::WebSocketSession session_;
  std::optional<StreamGrant> grant_;
  std::string client_;  // the peer's address, for the login throttle
  http::request<http::string_body> upgrade_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
};

// ------------------------------------------------------------------ HTTP

class HttpConnection final : public Closable, public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket&& socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)), slot_(shared_->connections) {
    beast::error_code ignored;
    client_ = stream_.socket().remote_endpoint(ignored).address().to_string();
  }
  ~HttpConnection() override { shared_->tracker.remove(this); }

  // refuse: the server is at max_connections; answer 503 without reading a request.
  void start(bool refuse) {
    shared_->tracker.add(shared_from_this());
    if (refuse) {
      return net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
        self->begin_request();
        self->refuse(503, busy_body, "too many connections");
      });
    }
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpConnection::read_header, shared_from_this()));
  }

  // Shutdown: an idle connection closes now, a busy one after its response.
  void close() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->busy_) {
        self->close_after_response_ = true;
      } else {
        self->close_now();
      }
    });
  }

 private:
  void read_header() {
    busy_ = false;
    if (close_after_response_ || shared_->stopping) return close_now();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(shared_->options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    // No limit yet: on_header sets the route's limit and answers 413 above it (a limit here
    // would make async_read_header fail, and the connection close without an answer).
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (buffer_.size() > 0) return read_request();  // a pipelined request is already here
    // Idle: wait for the first byte of the next request under the idle timeout.
    stream_.expires_after(shared_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->close_now();  // end of stream or idle timeout
      self->buffer_.commit(n);
      self->read_request();
    });
  }

  // From a request's first byte, the whole of it (head and body) must arrive within
  // read_timeout: a client trickling bytes holds no thread, and not its connection for long.
  void read_request() {
    stream_.expires_after(shared_->options.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpConnection::on_header, shared_from_this()));
  }

  void begin_request() {
    busy_ = true;
    started_ = Clock::now();
    request_id_ = shared_->next_request_id++;
    route_ = RouteMatch{};  // a request refused before routing reports no route
    console_ = false;
    method_.clear();
    path_.clear();
  }

  // A refusal that ends the connection (the rest of the request is not read).
  void refuse(int status, std::string_view body, const char* reason) {
    keep_alive_ = false;
    respond(Response{status, std::string(body), {}, {}, reason});
  }

  // The head overflowed max_header_bytes: 414 when it is the request line that is too long
  // (the parser had not finished it, or finished one over max_request_line), else 431.
  void head_too_large() {
    begin_request();
    const auto& partial = parser_->get();
    if (partial.target().empty() || request_line_length(partial) > shared_->options.max_request_line)
      return refuse(414, line_too_long_body, "request line too long");
    refuse(431, header_too_large_body, "request header too large");
  }

  // "METHOD SP target SP HTTP/1.1"
  static std::size_t request_line_length(const http::request<http::string_body>& request) {
    return request.method_string().size() + request.target().size() + 10;
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec == http::error::header_limit) return head_too_large();
    if (ec) return close_now();  // end of stream, timeout, malformed request: nothing to answer
    begin_request();
    const auto& request = parser_->get();
    version_ = request.version();
    method_ = std::string(request.method_string());
    if (request_line_length(request) > shared_->options.max_request_line) return refuse(414, line_too_long_body, "request line too long");
    if (static_cast<std::size_t>(std::distance(request.begin(), request.end())) > shared_->options.max_headers)
      return refuse(431, header_too_large_body, "too many header fields");
    const std::string target(request.target());
    path_ = std::string(path_of(target));
    route_ = match_route(method_, target);
    console_ = shared_->options.console && is_console_path(path_);
    const std::size_t limit = route_.iam_route || console_ ? shared_->options.max_iam_body : shared_->options.max_service_body;
    parser_->body_limit(limit);
    keep_alive_ = request.keep_alive();
    if (auto length = parser_->content_length(); length && *length > limit) return too_large();
    if (request[http::field::expect] == "100-continue") {
      auto proceed = std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
      http::async_write(stream_, *proceed, [self = shared_from_this(), proceed](beast::error_code ec, std::size_t) {
        if (ec) return self->close_now();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpConnection::on_body, shared_from_this()));
  }

  void too_large() {
    keep_alive_ = false;  // the unread body is still on the wire
    respond(Response{413, std::string(too_large_body), {}, {}, "body too large"});
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) return too_large();
    if (ec) return close_now();
    http::request<http::string_body> request = parser_->release();
    const std::string target(request.target());

    if (console_) return respond(console_response(method_, path_));
    if (route_.kind == RouteMatch::Kind::socket || route_.kind == RouteMatch::Kind::stream) {
      if (!websocket::is_upgrade(request))
        return respond(Response{426, std::string(upgrade_required_body), {}, {}, "not a websocket upgrade"});
      return upgrade(std::move(request), target);
    }

    std::optional<std::string_view> authorization;
    if (auto found = request.find(http::field::authorization); found != request.end()) authorization = std::string_view(found->value().data(), found->value().size());
    const std::string& client = client_;
    const iam::ScopedAuditContext context({std::to_string(request_id_), client});
    auto begun = shared_->handler->begin(route_, std::move(request.body()),
                                         iam::credential_from_authorization(authorization), client);
    if (auto* done = std::get_if<Response>(&begun)) return respond(std::move(*done));
    auto& pending = std::get<Pending>(begun);
    if (!pending.slow) return respond(shared_->handler->complete(pending));
    net::post(shared_->workers, [self = shared_from_this(), pending = std::move(pending), request_id = request_id_] {
      const iam::ScopedAuditContext context({std::to_string(request_id), self->client_});
      Response response = self->shared_->handler->complete(pending);
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response)]() mutable { self->respond(std::move(response)); });
    });
  }

  void upgrade(http::request<http::string_body> request, const std::string& target) {
    std::optional<StreamGrant> stream;
    AccessLine line = log_line(request_id_, method_, path_);
    if (route_.kind == RouteMatch::Kind::stream) {
      // Streaming endpoints take their credential from ?token= (browsers cannot set
      // headers on a WebSocket); authorised here, and again before every frame.
      const auto query_start = target.find('?');
      const std::string_view query = query_start == std::string::npos ? std::string_view() : std::string_view(target).substr(query_start);
      std::optional<std::string> credential = iam::credential_from_query(query);
      std::optional<iam::SecretString> kept;
      if (credential) kept.emplace(std::string_view(*credential));
      const iam::ScopedAuditContext context({std::to_string(request_id_), client_});
      auto begun = shared_->handler->begin(route_, {}, std::move(credential));
      if (auto* refused = std::get_if<Response>(&begun)) return respond(std::move(*refused));
      const iam::Outcome& outcome = std::get<Pending>(begun).outcome;
      stream = StreamGrant{Forwarded{outcome.operation, outcome.workspace, outcome.flow, outcome.body,
                                     outcome.identity.value_or(iam::Identity{})},
                           route_, std::move(kept), path_};
      line.principal = stream->forwarded.identity.handle;
      line.operation = outcome.operation;
    }
    line.status = 101;
    const double latency = milliseconds_since(started_);
    line.latency_ms = latency;
    shared_->finished(line, client_, stream ? std::string_view(stream->forwarded.workspace) : std::string_view());
    report_response(shared_->options, route_, 101, latency);
    stream_.expires_never();
    auto connection = std::make_shared<SocketConnection>(stream_.release_socket(), shared_, std::move(stream), client_);
    connection->start(std::move(request));
  }

  void respond(Response response) {
    auto message = std::make_shared<http::response<http::string_body>>();
    message->version(version_);
    message->result(static_cast<unsigned>(response.status));
    message->set(http::field::server, "iam-gateway");
    message->set(http::field::content_type, response.content_type);
    // API answers hold tokens, keys and user records: no cache may keep them.
    message->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : response.headers) message->set(name, value);
    message->set("X-Request-Id", std::to_string(request_id_));
    message->keep_alive(keep_alive_ && !close_after_response_ && !shared_->stopping);
    message->body() = std::move(response.body);
    message->prepare_payload();

    AccessLine line = log_line(request_id_, method_, path_);
    line.status = response.status;
    line.principal = std::move(response.principal);
    line.operation = std::move(response.operation);
    line.reason = std::move(response.reason);
    const double latency = milliseconds_since(started_);
    line.latency_ms = latency;
    shared_->finished(line, client_, response.workspace);
    report_response(shared_->options, route_, response.status, latency);

    http::async_write(stream_, *message, [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
      if (ec) return self->close_now();
      if (!message->keep_alive()) return self->linger();
      self->read_header();
    });
  }

  // RFC 9112 9.6: close in stages. Closing at once with request bytes still arriving makes
  // the kernel answer with a reset, and a client still sending (a 413's body) loses the
  // response. Half-close, discard what still comes (bounded in time and bytes), then close.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(5));
    linger_budget_ = 64 * 1024 * 1024;
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec || n >= self->linger_budget_) return self->close_now();
      self->linger_budget_ -= n;
      self->drain();
    });
  }

  void close_now() {
    busy_ = false;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Shared> shared_;
  ConnectionSlot slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  RouteMatch route_;
  bool console_ = false;  // a /console/ file (options.console), not an API route
  std::string method_;
  std::string path_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool busy_ = false;
  bool close_after_response_ = false;
  std::uint64_t request_id_ = 0;
  std::string client_;  // the peer's address
  Clock::time_point started_;
  std::array<char, 16 * 1024> drain_buffer_{};
  std::size_t linger_budget_ = 0;
};

}  // namespace

// ------------------------------------------------------------------ Server

struct Server::Impl {
  std::shared_ptr<Shared> shared;
  net::io_context ioc;
  // The acceptor, the signal sets, the shutdown timer and their handlers run on this one
  // strand: with several I/O threads, a SIGTERM handler closing the acceptor while another
  // thread runs the accept handler was a data race (a crash at shutdown).
  net::strand<net::io_context::executor_type> control{net::make_strand(ioc)};
  tcp::acceptor acceptor{control};
  net::signal_set signals{control, SIGINT, SIGTERM};
  net::signal_set report_signal{control, SIGUSR1};
  net::signal_set reopen_signal{control, SIGHUP};
  net::steady_timer shutdown_timer{control};
  Clock::time_point shutdown_deadline;

  Impl(std::shared_ptr<const Handler> handler, ServerOptions options)
      : shared(std::make_shared<Shared>(std::move(handler), std::move(options))),
        ioc(static_cast<int>(std::max<std::size_t>(1, shared->options.io_threads))) {}

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec) {
        const std::size_t open = shared->connections.load();
        if (open < shared->options.max_connections + refusal_headroom) {
          std::make_shared<HttpConnection>(std::move(socket), shared)->start(open >= shared->options.max_connections);
        }  // else the socket closes here, unanswered
      }
      accept();
    });
  }

  void await_report_signal() {
    report_signal.async_wait([this](beast::error_code ec, int) {
      if (ec) return;
      if (shared->options.on_report) shared->options.on_report(shared->connections.load());
      await_report_signal();
    });
  }

  void await_reopen_signal() {
    reopen_signal.async_wait([this](beast::error_code ec, int) {
      if (ec) return;
      if (shared->options.on_reopen) shared->options.on_reopen();
      await_reopen_signal();
    });
  }

  void begin_shutdown() {
    if (shared->stopping.exchange(true)) return;
    beast::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    report_signal.cancel(ignored);
    reopen_signal.cancel(ignored);
    shared->tracker.close_all();
    shutdown_deadline = Clock::now() + shared->options.shutdown_grace;
    wait_for_connections();
  }

  // Polls until every connection has finished (or the grace period is over), then stops.
  void wait_for_connections() {
    if (shared->tracker.empty() || Clock::now() >= shutdown_deadline) return ioc.stop();
    shutdown_timer.expires_after(std::chrono::milliseconds(50));
    shutdown_timer.async_wait([this](beast::error_code) { wait_for_connections(); });
  }
};

Server::Server(std::shared_ptr<const Handler> handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(handler), std::move(options))) {}

Server::~Server() = default;

iam::Result<unsigned short> Server::listen() {
  const auto& options = impl_->shared->options;
  return listen_on(impl_->acceptor, options.bind, options.port, "--bind", "listen on");
}

void Server::run() {
  impl_->accept();
  impl_->await_report_signal();
  impl_->await_reopen_signal();
  impl_->signals.async_wait([this](beast::error_code ec, int) {
    if (!ec) impl_->begin_shutdown();
  });
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < std::max<std::size_t>(1, impl_->shared->options.io_threads); ++i)
    threads.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& thread : threads) thread.join();
  impl_->shared->workers.join();
}

void Server::stop() {
  net::post(impl_->control, [this] { impl_->begin_shutdown(); });
}

}  // namespace gateway

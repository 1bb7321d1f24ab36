// WebSocketSession::on_frame (src/gateway/websocket_session.cpp): the input is a sequence
// of text frames separated by '\n', fed in order to one session. In a frame, @KEY@, @READER@
// and @JWT@ are replaced by a real admin API key, reader API key and admin JWT, so the
// authenticated states are reached; a frame that is exactly @TICK@ moves the clock on
// 30 minutes (JWTs expire mid-session).
// Properties: every frame sent is one JSON object; an auth frame is answered with exactly
// one auth-ok or auth-failed frame and the session's state follows it; nothing is
// forwarded from an unauthenticated session; a forwarded request is a JSON object whose
// actor is the forwarded identity's handle, with a JSON id; an id is only ever echoed as a
// string of at most max_id_bytes or a number; a frame nested deeper than the depth bound
// (+1 for the envelope) is a bad message echoing nothing (issue 14); the bounded parser's
// own properties hold on every frame (fuzz_common.h).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "iam/websocket_session.h"
#include "iam_fixture.h"

namespace {
const std::string bad_message = R"({"error":{"message":"bad message","type":"error"},"complete":true})";

bool is_echoable_id(const nlohmann::json& id) {
  return (id.is_string() && id.get_ref<const std::string&>().size() <= iam::WebSocketSession::max_id_bytes) ||
         id.is_number();
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& f = fuzz::iam_fixture(500);
  const auto start = f.t.clock->now();
  iam::WebSocketSession session(f.enforcer);
  std::string_view input = fuzz::as_view(data, size);
  while (true) {
    const auto newline = input.find('\n');
    std::string frame(input.substr(0, newline));
    if (frame == "@TICK@") {
      f.t.clock->advance(std::chrono::minutes(30));
    } else {
      replace_all(frame, "@KEY@", f.t.admin_api_key);
      replace_all(frame, "@READER@", f.reader_api_key);
      replace_all(frame, "@JWT@", f.admin_jwt);
      fuzz::check_bounded_parser(frame);
      const bool was_authenticated = session.authenticated();
      const auto reply = session.on_frame(frame);
      for (const auto& out : reply.frames) {
        fuzz::check(fuzz::is_json_object(out), "every frame sent is a JSON object");
        const auto sent = nlohmann::json::parse(out);
        fuzz::check(!sent.contains("id") || is_echoable_id(sent["id"]), "only a bounded string or number id is echoed");
      }
      if (const auto depth = fuzz::json_depth(frame); depth && *depth > f.enforcer->max_json_depth() + 1)
        fuzz::check(!reply.forward && reply.frames.size() == 1 && reply.frames[0] == bad_message,
                    "a frame nested too deeply is a bad message");
      // Read as the session reads it: a frame over the bounds is no auth frame.
      const auto parsed = iam::parse_json_bounded(
          frame, iam::JsonLimits{f.enforcer->max_json_depth() + 1, f.enforcer->max_body_bytes()});
      const bool auth_frame = parsed && parsed->is_object() && parsed->contains("type") && (*parsed)["type"] == "auth";
      if (auth_frame) {
        fuzz::check(reply.frames.size() == 1 && !reply.forward, "an auth frame gets one answer frame");
        const auto answer = nlohmann::json::parse(reply.frames[0]);
        fuzz::check(answer["type"] == "auth-ok" || answer["type"] == "auth-failed", "auth-ok or auth-failed");
        fuzz::check(session.authenticated() == (answer["type"] == "auth-ok"), "state follows the auth answer");
      } else if (!was_authenticated) {
        fuzz::check(!reply.forward, "nothing forwarded before authentication");
        fuzz::check(!session.authenticated(), "only an auth frame authenticates");
      }
      if (reply.forward) {
        fuzz::check(reply.frames.empty(), "a forwarded frame is not also answered");
        const auto request = nlohmann::json::parse(reply.forward->request, nullptr, false);
        fuzz::check(!request.is_discarded() && request.is_object(), "forwarded request is a JSON object");
        fuzz::check(request.contains("actor") && request["actor"] == reply.forward->identity.handle,
                    "forwarded actor is the identity's handle");
        const auto id = nlohmann::json::parse(reply.forward->id_json, nullptr, false);
        fuzz::check(!id.is_discarded() && is_echoable_id(id), "the forwarded id is a bounded string or a number");
      } else {
        fuzz::check(!reply.frames.empty(), "a frame not forwarded is answered");
      }
    }
    if (newline == std::string_view::npos) break;
    input.remove_prefix(newline + 1);
  }
  f.t.clock->set(start);  // the next input starts where this one did
  f.enforcer->clear_caches();
  return 0;
}

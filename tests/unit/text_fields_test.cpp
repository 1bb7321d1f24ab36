// Names and other free text (issue 14, item 15): username keys (NFKC + full case folding),
// the text rules of src/core/text.h, and the roles regime refusing control characters in
// every text field it stores and white space around a username.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/text.h"
#include "iam/log.h"
#include "iam/repository.h"
#include "iam/roles.h"
#include "iam/testing.h"
#include "roles_test_support.h"

using namespace roles_test;
using iam::ErrorCode;

namespace {

// What every text field must refuse: each a control character (or not UTF-8) inside
// otherwise ordinary text.
const std::vector<std::string>& hostile_texts() {
  static const std::vector<std::string> texts = {
      std::string("ali\0ce", 6),    // NUL
      "ali\x1b[31mce",              // ESC, a terminal colour
      "ali\x1b]0;pwned\x07" "ce",   // OSC: sets the terminal title
      "alice\nadmin",               // LF: a forged log line
      "alice\r",                    // CR
      "ali\tce",                    // TAB
      "ali\x7f" "ce",               // DEL
      "ali\xc2\x9b" "31mce",        // C1 CSI (U+009B)
      "ali\xc2\x85" "ce",           // C1 NEL (U+0085)
      "ali\xe2\x80\xa8" "ce",       // LINE SEPARATOR
      "ali\xe2\x80\xa9" "ce",       // PARAGRAPH SEPARATOR
      "ali\xff" "ce",               // not UTF-8
      "ali\xc0\xae" "ce",           // overlong '.'
      "ali\xed\xa0\x80" "ce",       // a UTF-16 surrogate
  };
  return texts;
}

std::string upper_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

}  // namespace

// ====================================================================== username_key

TEST_CASE("username_key: NFKC and full case folding") {
  CHECK(iam::username_key("admin") == "admin");
  CHECK(iam::username_key("ADMIN") == "admin");
  CHECK(iam::username_key("\xef\xbd\x81" "dmin") == "admin");  // full-width 'ａ'
  CHECK(iam::username_key("\xef\xbc\xa1\xef\xbc\xa4\xef\xbc\xad\xef\xbc\xa9\xef\xbc\xae") == "admin");  // ＡＤＭＩＮ
  // full case folding: 'ß' is "ss", so 'Straße' and 'STRASSE' are one name
  CHECK(iam::username_key("Stra\xc3\x9f" "e") == "strasse");
  CHECK(iam::username_key("STRASSE") == "strasse");
  // composed and decomposed forms are one
  CHECK(iam::username_key("\xc3\x89mile") == iam::username_key("E\xcc\x81mile"));
  CHECK(iam::username_key("\xc3\x89MILE") == "\xc3\xa9mile");
  // compatibility forms: the 'ﬁ' ligature, a superscript two
  CHECK(iam::username_key("\xef\xac\x81" "le") == "file");
  CHECK(iam::username_key("x\xc2\xb2") == "x2");
  // default-ignorable code points (zero width, bidi controls) drop out
  CHECK(iam::username_key("ad\xe2\x80\x8bmin") == "admin");
  CHECK(iam::username_key("\xe2\x80\xae" "admin") == "admin");
  // other scripts keep their letters; Greek final sigma folds like sigma
  CHECK(iam::username_key("\xce\xa3\xce\xbf\xcf\x86\xce\xaf\xce\xb1") == "\xcf\x83\xce\xbf\xcf\x86\xce\xaf\xce\xb1");
  // the key of a key is itself
  for (const char* name : {"Stra\xc3\x9f" "e", "\xef\xbd\x81" "dmin", "\xc3\x89mile", "x\xc2\xb2"}) {
    const auto key = iam::username_key(name);
    REQUIRE(key);
    CHECK(iam::username_key(*key) == key);
  }
  // distinct names stay distinct
  CHECK(iam::username_key("admin") != iam::username_key("admin2"));
  CHECK(iam::username_key("admin") != iam::username_key("admin "));
}

TEST_CASE("username_key: no key for invalid UTF-8, unassigned code points or nothing") {
  CHECK_FALSE(iam::username_key(""));
  CHECK_FALSE(iam::username_key("adm\xffin"));
  CHECK_FALSE(iam::username_key("\xc0\xa1" "dmin"));          // overlong 'a'
  CHECK_FALSE(iam::username_key("\xed\xa0\x80"));             // a surrogate
  CHECK_FALSE(iam::username_key("\xf4\x90\x80\x80"));         // beyond U+10FFFF
  CHECK_FALSE(iam::username_key("admin\xe2\x80"));            // truncated sequence
  CHECK_FALSE(iam::username_key("\xf0\xaf\xbf\xbe"));         // U+2FFFE, a noncharacter
  CHECK_FALSE(iam::username_key("\xe2\x80\x8b\xe2\x80\x8c"));  // only ignorable code points
}

// ====================================================================== text rules

TEST_CASE("text::is_plain: UTF-8 without control characters") {
  CHECK(iam::text::is_plain(""));
  CHECK(iam::text::is_plain("Alice Liddell"));
  CHECK(iam::text::is_plain("alice@example.org"));
  CHECK(iam::text::is_plain("\xc3\x89mile Zola \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x94\x91"));
  for (const auto& s : hostile_texts()) {
    INFO(iam::text::escape_controls(s));
    CHECK_FALSE(iam::text::is_plain(s));
  }
}

TEST_CASE("text::has_outer_whitespace") {
  CHECK_FALSE(iam::text::has_outer_whitespace(""));
  CHECK_FALSE(iam::text::has_outer_whitespace("admin"));
  CHECK_FALSE(iam::text::has_outer_whitespace("Alice Liddell"));
  CHECK_FALSE(iam::text::has_outer_whitespace("\xc3\xa9"));
  CHECK(iam::text::has_outer_whitespace(" admin"));
  CHECK(iam::text::has_outer_whitespace("admin "));
  CHECK(iam::text::has_outer_whitespace("admin\t"));
  CHECK(iam::text::has_outer_whitespace("\xc2\xa0" "admin"));      // NO-BREAK SPACE
  CHECK(iam::text::has_outer_whitespace("admin\xe3\x80\x80"));     // IDEOGRAPHIC SPACE
  CHECK(iam::text::has_outer_whitespace("admin\xe2\x80\x83"));     // EM SPACE
  CHECK(iam::text::has_outer_whitespace(" "));
}

TEST_CASE("text::equal: every length to 40 and long ones, a difference at every position") {
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 40; ++n) lengths.push_back(n);
  for (std::size_t n : {63, 64, 65, 127, 128, 129, 200}) lengths.push_back(n);  // memcmp above 128
  for (const std::size_t n : lengths) {
    std::string a(n, 'x');
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<char>('a' + i % 26);
    const std::string same = a;  // another buffer
    CAPTURE(n);
    CHECK(iam::text::equal(a, same));
    CHECK_FALSE(iam::text::equal(a, a + "z"));
    CHECK_FALSE(iam::text::equal(a + "z", a));
    for (std::size_t i = 0; i < n; ++i) {
      std::string other = a;
      other[i] = static_cast<char>(other[i] ^ 0x80);  // one bit, and a byte above 0x7f
      CAPTURE(i);
      CHECK_FALSE(iam::text::equal(a, other));
      CHECK_FALSE(iam::text::equal(other, a));
    }
  }
  // Views into the middle of a longer buffer: no alignment assumed.
  const std::string buffer = "..workspace-0123456789abcdef-0123456789..";
  CHECK(iam::text::equal(std::string_view(buffer).substr(2, 37), "workspace-0123456789abcdef-0123456789"));
  CHECK_FALSE(iam::text::equal(std::string_view(buffer).substr(1, 37), "workspace-0123456789abcdef-0123456789"));
}

TEST_CASE("text::escape_controls: nothing a terminal acts on survives") {
  CHECK(iam::text::escape_controls("Alice \xc3\x89mile") == "Alice \xc3\x89mile");
  CHECK(iam::text::escape_controls("a\x1b[31mb") == "a\\e[31mb");
  CHECK(iam::text::escape_controls("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(iam::text::escape_controls(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(iam::text::escape_controls("a\x7f" "b") == "a\\x7Fb");
  CHECK(iam::text::escape_controls("a\xc2\x9b" "b") == "a\\u{009B}b");
  CHECK(iam::text::escape_controls("a\xe2\x80\xa8" "b") == "a\\u{2028}b");
  CHECK(iam::text::escape_controls("a\xff" "b") == "a\\xFFb");
  CHECK(iam::text::escape_controls("a\\e") == "a\\\\e");  // a literal backslash cannot pass for an escape
  for (const auto& s : hostile_texts()) CHECK(iam::text::is_plain(iam::text::escape_controls(s)));
}

// ====================================================================== the roles regime

TEST_CASE("roles regime: every stored text field refuses control characters") {
  auto t = make_iam();
  auto& g = *t.regime;
  REQUIRE(g.create_workspace(kTrusted, workspace_input("ws-a", std::string("Workspace A"))).ok());
  auto in = user_input("alice", kPassword);
  in.name = "Alice";
  in.email = "alice@example.org";
  auto alice = g.create_user(kTrusted, "ws-a", in);
  REQUIRE(alice.ok());
  const auto users_before = t.repository->list_users(std::nullopt)->size();

  for (const auto& bad : hostile_texts()) {
    const std::string shown = iam::text::escape_controls(bad);
    INFO("text: " << shown);

    // create-user: username, name, email
    CHECK(code_of(g.create_user(kTrusted, "ws-a", user_input(bad, kPassword))) == ErrorCode::invalid_argument);
    auto with_name = user_input("bob", kPassword);
    with_name.name = bad;
    CHECK(code_of(g.create_user(kTrusted, "ws-a", with_name)) == ErrorCode::invalid_argument);
    auto with_email = user_input("bob", kPassword);
    with_email.email = bad;
    CHECK(code_of(g.create_user(kTrusted, "ws-a", with_email)) == ErrorCode::invalid_argument);
    CHECK(t.repository->list_users(std::nullopt)->size() == users_before);

    // update-user: name, email
    iam::UserInput name_update;
    name_update.name = bad;
    CHECK(code_of(g.update_user(kTrusted, alice->id, name_update, std::nullopt)) == ErrorCode::invalid_argument);
    iam::UserInput email_update;
    email_update.email = bad;
    CHECK(code_of(g.update_user(kTrusted, alice->id, email_update, std::nullopt)) == ErrorCode::invalid_argument);
    const auto stored = t.repository->find_user(alice->id);
    REQUIRE(stored.ok());
    CHECK(stored->record.name == "Alice");
    CHECK(stored->record.email == "alice@example.org");

    // create-workspace, update-workspace: name
    CHECK(code_of(g.create_workspace(kTrusted, workspace_input("ws-b", bad))) == ErrorCode::invalid_argument);
    CHECK(t.repository->find_workspace("ws-b").error().code == ErrorCode::not_found);
    CHECK(code_of(g.update_workspace(kTrusted, workspace_input("ws-a", bad))) == ErrorCode::invalid_argument);
    CHECK(t.repository->find_workspace("ws-a")->name == "Workspace A");

    // create-api-key: name
    CHECK(code_of(g.create_api_key(kTrusted, key_input(alice->id, bad), std::nullopt)) ==
          ErrorCode::invalid_argument);
    CHECK(t.repository->list_api_keys(alice->id)->empty());

    // an unknown role is named in the error only when it is short plain text
    const auto role = g.create_user(kTrusted, "ws-a", user_input("carol", kPassword, std::vector<std::string>{bad}));
    REQUIRE_FALSE(role.ok());
    CHECK(role.error().code == ErrorCode::invalid_argument);
    CHECK(iam::text::is_plain(role.error().message));
  }

  // ordinary text beyond ASCII is fine everywhere
  auto fine = user_input("\xc3\xa9mile", kPassword);
  fine.name = "\xc3\x89mile Zola";
  fine.email = "\xc3\xa9mile@example.org";
  CHECK(g.create_user(kTrusted, "ws-a", fine).ok());
  CHECK(g.update_workspace(kTrusted, workspace_input("ws-a", std::string("Espace \xc3\xa9t\xc3\xa9"))).ok());
  CHECK(g.create_api_key(kTrusted, key_input(alice->id, std::string("cl\xc3\xa9")), std::nullopt).ok());
  // and an unknown role's name is still given back when it is harmless
  const auto role = g.create_user(kTrusted, "ws-a", user_input("carol", kPassword, std::vector<std::string>{"root"}));
  REQUIRE_FALSE(role.ok());
  CHECK(role.error().message == "unknown role 'root'");
}

TEST_CASE("roles regime: text fields are bounded") {
  auto t = make_iam();
  auto& g = *t.regime;
  auto long_name = user_input("bob", kPassword);
  long_name.name = std::string(257, 'n');
  CHECK(code_of(g.create_user(kTrusted, "default", long_name)) == ErrorCode::invalid_argument);
  auto long_email = user_input("bob", kPassword);
  long_email.email = std::string(321, 'e');
  CHECK(code_of(g.create_user(kTrusted, "default", long_email)) == ErrorCode::invalid_argument);
  CHECK(code_of(g.create_workspace(kTrusted, workspace_input("ws-b", std::string(257, 'w')))) ==
        ErrorCode::invalid_argument);
  auto at_limit = user_input("bob", kPassword);
  at_limit.name = std::string(256, 'n');
  at_limit.email = std::string(320, 'e');
  CHECK(g.create_user(kTrusted, "default", at_limit).ok());
}

TEST_CASE("roles regime: usernames refuse outer white space and are unique by username key") {
  auto t = make_iam();  // bootstrapped: "admin" exists
  auto& g = *t.regime;
  for (const char* name : {" alice", "alice ", "\xc2\xa0" "alice", "alice\xe3\x80\x80", "\xe2\x80\x83" "alice", " "}) {
    INFO("username " << iam::text::escape_controls(name));
    const auto r = g.create_user(kTrusted, "default", user_input(name, kPassword));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::invalid_argument);
  }
  // white space inside is kept
  CHECK(g.create_user(kTrusted, "default", user_input("alice liddell", kPassword)).ok());
  // nothing left once normalised
  CHECK(code_of(g.create_user(kTrusted, "default", user_input("\xe2\x80\x8b", kPassword))) ==
        ErrorCode::invalid_argument);

  // look-alikes of the administrator are the administrator's name
  for (const char* name : {"ADMIN", "\xef\xbd\x81" "dmin", "\xef\xbc\xa1\xef\xbc\xa4\xef\xbc\xad\xef\xbc\xa9\xef\xbc\xae",
                           "ad\xe2\x80\x8bmin", "\xe2\x80\xae" "admin"}) {
    INFO("username " << iam::text::escape_controls(name));
    CHECK(code_of(g.create_user(kTrusted, "default", user_input(name, kPassword))) == ErrorCode::duplicate);
  }
  REQUIRE(g.create_user(kTrusted, "default", user_input("Stra\xc3\x9f" "e", kPassword)).ok());
  CHECK(code_of(g.create_user(kTrusted, "default", user_input("STRASSE", kPassword))) == ErrorCode::duplicate);

  // login finds a user by any spelling of its key; a name without a key is an auth failure
  REQUIRE(g.create_user(kTrusted, "default", user_input("bob", kPassword)).ok());
  CHECK(g.login("\xef\xbd\x82" "ob", kPassword, std::nullopt).ok());  // full-width 'ｂ'
  CHECK(g.login(upper_ascii("bob"), kPassword, std::nullopt).ok());
  CHECK(is_auth_failure(g.login("b\xff" "b", kPassword, std::nullopt)));
  CHECK(is_auth_failure(g.login("b\xff" "b", "wrong", std::nullopt)));

  // update-user: another spelling of the same key is no rename; a look-alike of another is
  const auto bob = t.repository->find_user_by_username("bob");
  REQUIRE(bob.ok());
  iam::UserInput same;
  same.username = "\xef\xbc\xa2OB";
  CHECK(g.update_user(kTrusted, bob->record.id, same, std::nullopt).ok());
  CHECK(t.repository->find_user(bob->record.id)->record.username == "bob");
  iam::UserInput other;
  other.username = "b\xff" "b";
  CHECK(code_of(g.update_user(kTrusted, bob->record.id, other, std::nullopt)) == ErrorCode::invalid_argument);
}

TEST_CASE("roles regime: the login throttle counts every spelling of a username as one") {
  iam::testing::TestIamOptions options;
  options.login_throttle.free_failures = 2;
  options.login_throttle.first_delay = std::chrono::seconds(60);
  auto t = make_iam(options);
  REQUIRE(t.create_user("alice", kPassword, {"reader"}).ok());
  // three failures, each under another spelling: the account is locked for all of them
  for (const char* spelling : {"alice", "ALICE", "\xef\xbd\x81lice"})
    CHECK(is_auth_failure(t.regime->login(spelling, "wrong password", std::nullopt)));
  for (const char* spelling : {"alice", "Alice", "\xef\xbc\xa1LICE", "al\xe2\x80\x8bice"}) {
    INFO("spelling " << iam::text::escape_controls(spelling));
    CHECK(is_auth_failure(t.regime->login(spelling, kPassword, std::nullopt)));
  }
  t.clock->advance(std::chrono::seconds(60));
  CHECK(t.regime->login("ALICE", kPassword, std::nullopt).ok());
}

TEST_CASE("stderr_logger: one line per message, control characters escaped") {
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture);
  std::fflush(stderr);
  const int saved = ::dup(2);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(::fileno(capture), 2) == 2);
  iam::stderr_logger()(iam::LogLevel::warning, "user u1 has unknown role 'x\niam error: forged\x1b[2J'");
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string written(4096, '\0');
  std::rewind(capture);
  written.resize(std::fread(written.data(), 1, written.size(), capture));
  std::fclose(capture);
  CHECK(written == "iam warning: user u1 has unknown role 'x\\niam error: forged\\e[2J'\n");
}

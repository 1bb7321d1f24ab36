// tests/postgres/pg_test_support.h — what the PostgreSQL tests share: the throw-away
// server that tests/postgres/with_postgres.py started around the test (reached through the
// PG* variables it exports), a fresh database per repository, and stopping and starting
// that server.
//
// THREAD SAFETY: call from the test's main thread. OWNERSHIP: TempDatabase drops its
// database when destroyed.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace pgtest {

// Aborts (never skips) unless the test runs under with_postgres.py.
inline void require_server() {
  if (!std::getenv("IAM_PG_CONTROL") || !std::getenv("PGPORT")) {
    std::fprintf(stderr,
                 "postgres tests: no test server; run under tests/postgres/with_postgres.py -- <test>\n");
    std::abort();
  }
}

// Runs SQL without parameters in `dbname` ("" = PGDATABASE); "" on success, else the error.
inline std::string exec(const std::string& dbname, const std::string& sql) {
  const char* keywords[] = {"dbname", nullptr};
  const char* values[] = {dbname.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 0);
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(conn);
  return error;
}

// The first column of the first row of a query, or "<error: …>".
inline std::string query_value(const std::string& dbname, const std::string& sql) {
  const char* keywords[] = {"dbname", nullptr};
  const char* values[] = {dbname.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 0);
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = std::string("<error: ") + PQerrorMessage(conn) + ">";
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) out = std::string("<error: ") + PQresultErrorMessage(r) + ">";
    else if (PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
  }
  PQfinish(conn);
  return out;
}

// A database of its own, created empty and dropped (with any connections left) at the end.
class TempDatabase {
 public:
  explicit TempDatabase(const char* prefix = "iam_test") {
    require_server();
    static std::atomic<int> counter{0};
    name_ = std::string(prefix) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    if (const auto error = exec("", "CREATE DATABASE " + name_); !error.empty()) {
      std::fprintf(stderr, "postgres tests: CREATE DATABASE %s: %s\n", name_.c_str(), error.c_str());
      std::abort();
    }
  }
  ~TempDatabase() { exec("", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  const std::string& name() const { return name_; }
  // A conninfo naming this database; host, port, user and password come from PG*.
  std::string conninfo() const { return "dbname=" + name_; }

 private:
  std::string name_;
};

// Stops or starts the test server ("stop" / "start"); true when that worked.
inline bool server_control(const std::string& action) {
  require_server();
  const std::string command = std::string(std::getenv("IAM_PG_CONTROL")) + " " + action;
  return std::system(command.c_str()) == 0;
}

}  // namespace pgtest

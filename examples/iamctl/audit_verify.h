// iamctl audit-verify: checks the hash chain of audit log files (protocol.md "Audit log
// file"). Local files only; no store, no gateway.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace iamctl {

class AuditVerify {
 public:
  // Adds the subcommand to `app`.
  explicit AuditVerify(CLI::App& app);
  bool parsed() const { return command_->parsed(); }
  // Prints per file "<file>: <n> events, chain intact", or "<file>:<line>: <problem>" for
  // the first break. Returns 0 when every file is intact, 1 when a chain breaks, 2 when a
  // file cannot be read or --genesis is malformed.
  int run() const;

 private:
  CLI::App* command_;
  std::vector<std::string> files_;
  std::string genesis_;
};

}  // namespace iamctl

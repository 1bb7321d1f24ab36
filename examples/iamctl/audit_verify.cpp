#include "audit_verify.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include "iam/audit.h"

namespace iamctl {

AuditVerify::AuditVerify(CLI::App& app) {
  command_ = app.add_subcommand("audit-verify",
                                "Check the hash chain of audit log files (oldest first: rotated files chain across)");
  command_->add_option("files", files_, "audit log files, oldest first")->required();
  command_->add_option("--genesis", genesis_,
                       "the genesis the first file must record (the last chain value of the file before it)");
  command_->footer("Exit codes: 0 every chain intact, 1 a chain breaks (the first broken line is printed), 2 a file "
                   "cannot be read.");
}

int AuditVerify::run() const {
  std::optional<std::string> expected;
  if (!genesis_.empty()) expected = genesis_;
  for (const std::string& file : files_) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "iamctl: cannot read " << file << "\n";
      return 2;
    }
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const iam::AuditChainCheck check = iam::verify_audit_chain(text, expected);
    if (!check.intact) {
      std::cout << file << ":" << check.broken_line << ": " << check.problem << " (" << check.events
                << " events verified before it)\n";
      return 1;
    }
    std::cout << file << ": " << check.events << " events, chain intact\n";
    expected = check.last_chain;
  }
  return 0;
}

}  // namespace iamctl

#include "iam/repository.h"

namespace iam {

std::string username_key(std::string_view username) {
  std::string key(username);
  for (char& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

}  // namespace iam

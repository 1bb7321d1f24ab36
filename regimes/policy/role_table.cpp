// The default role table (contract.md): reader, writer, admin.
#include "iam/role_table.h"

namespace iam {

RoleTable default_role_table() {
  RoleDefinition reader;
  reader.capabilities = {
      // every :read capability of the data plane
      "graph:read", "triples:read", "sparql:read", "graph-rag:read", "graph-embeddings:read", "documents:read",
      "document-rag:read", "document-embeddings:read", "entity-contexts:read", "rows:read", "nlp-query:read",
      "structured-query:read", "row-embeddings:read", "collections:read", "knowledge:read",
      // services and read-only control plane
      "agent", "llm", "embeddings", "reranker", "image-to-text", "mcp", "config:read", "flows:read", "keys:self"};

  RoleDefinition writer = reader;
  for (const char* c : {"graph:write", "triples:write", "graph-embeddings:write", "document-embeddings:write",
                        "entity-contexts:write", "documents:write", "rows:write", "collections:write",
                        "knowledge:write"})
    writer.capabilities.insert(c);

  RoleDefinition admin = writer;
  for (const char* c : {"config:write", "flows:write", "users:read", "users:write", "users:admin", "keys:admin",
                        "workspaces:admin", "iam:admin", "metrics:read"})
    admin.capabilities.insert(c);
  admin.all_workspaces = true;

  return RoleTable{{"reader", reader}, {"writer", writer}, {"admin", admin}};
}

}  // namespace iam

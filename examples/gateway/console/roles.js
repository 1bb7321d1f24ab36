// The default role table (iam::default_role_table(), docs/contract.md): what each role
// grants and where. The console only uses it to decide what to offer; the server decides
// every request anyway, and a deployment with its own table may differ.

const readerCapabilities = [
  'graph:read', 'triples:read', 'sparql:read', 'graph-rag:read', 'graph-embeddings:read', 'documents:read',
  'document-rag:read', 'document-embeddings:read', 'entity-contexts:read', 'rows:read', 'nlp-query:read',
  'structured-query:read', 'row-embeddings:read', 'collections:read', 'knowledge:read',
  'agent', 'llm', 'embeddings', 'reranker', 'image-to-text', 'mcp', 'config:read', 'flows:read', 'keys:self',
];
const writerCapabilities = [
  ...readerCapabilities,
  'graph:write', 'triples:write', 'graph-embeddings:write', 'document-embeddings:write', 'entity-contexts:write',
  'documents:write', 'rows:write', 'collections:write', 'knowledge:write',
];
const adminCapabilities = [
  ...writerCapabilities,
  'config:write', 'flows:write', 'users:read', 'users:write', 'users:admin', 'keys:admin', 'workspaces:admin',
  'iam:admin', 'metrics:read',
];

// role → {capabilities, allWorkspaces}; allWorkspaces false: the user's home workspace only.
export const ROLE_TABLE = Object.freeze({
  reader: Object.freeze({ capabilities: Object.freeze(readerCapabilities), allWorkspaces: false }),
  writer: Object.freeze({ capabilities: Object.freeze(writerCapabilities), allWorkspaces: false }),
  admin: Object.freeze({ capabilities: Object.freeze(adminCapabilities), allWorkspaces: true }),
});

// Every capability the roles grant (unknown role names grant nothing, as on the server).
export function capabilitiesOf(roles) {
  const granted = new Set();
  for (const role of roles || []) {
    const definition = ROLE_TABLE[role];
    if (definition) definition.capabilities.forEach((c) => granted.add(c));
  }
  return granted;
}

// A real OpenID provider for the integration tests (tests/integration/oidc_provider.py):
// npm oidc-provider on loopback, issuing JWT access tokens by the client credentials grant.
//
//   node tests/oidc/provider.mjs CONFIG.json
//
// CONFIG (written by the test):
//   port       TCP port on 127.0.0.1 (0: any free one); the issuer is http://127.0.0.1:PORT
//   keys       private JWKs (each with kid and alg): the provider's JWKS publishes them all
//   resources  {"<resource indicator>": {"audience": "...", "alg": "RS256", "kid": "..."}}:
//              a token asked for with resource=<indicator> is a JWT for that audience,
//              signed with that key (so a test picks the algorithm and, to rotate, the key)
//   clients    [{"client_id", "client_secret", "claims": {...}, "subject"?: "..."}]: the
//              claims are added to every access token of that client (roles, username,
//              workspace); "subject" replaces `sub` (default: the client id)
//
// Rotation: the test restarts this script on the same port with a new key list whose new
// key signs. Prints {"event":"listening","issuer":…,"port":…} on stdout once it serves.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const clientsById = new Map(config.clients.map((client) => [client.client_id, client]));

// The issuer names the port, so the socket is bound before the provider is made.
const server = createServer((req, res) => handle(req, res));
let handle = (_req, res) => { res.statusCode = 503; res.end(); };
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  jwks: { keys: config.keys },
  clients: config.clients.map(({ client_id, client_secret }) => ({
    client_id,
    client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,  // a token must name its resource
      getResourceServerInfo: (_ctx, resource) => {
        const server = config.resources[resource];
        if (!server) throw new Provider.errors.InvalidTarget();
        return {
          audience: server.audience,
          scope: 'api',
          accessTokenFormat: 'jwt',
          accessTokenTTL: server.ttl ?? 300,
          jwt: { sign: { alg: server.alg, kid: server.kid } },
        };
      },
    },
  },
  extraTokenClaims: (_ctx, token) => clientsById.get(token.clientId)?.claims,
  formats: {
    customizers: {
      jwt: (_ctx, token, jwt) => {
        const subject = clientsById.get(token.clientId)?.subject;
        if (subject !== undefined) jwt.payload.sub = subject;
      },
    },
  },
});
provider.proxy = false;
handle = provider.callback();

process.stdout.write(`${JSON.stringify({ event: 'listening', issuer, port })}\n`);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

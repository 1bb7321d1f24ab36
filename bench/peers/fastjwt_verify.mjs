// fast-jwt (npm, pinned in package.json) verifying the very token bench-jwt times.
//
//   node bench/peers/fastjwt_verify.mjs TOKEN_JSON [SECONDS]
//
// TOKEN_JSON is what `bench-jwt --token-out=FILE` wrote. fast-jwt's synchronous verifier
// (createVerifier with a PEM key; its token cache off, the default, so every call checks
// the signature as iam's uncached figure does) runs one token after the other for about
// SECONDS (default 5) in 5 batches after a warm-up (V8's JIT), and prints
// `RESULT fastjwt_per_second <n>` from the median batch, in process CPU time (Node's
// Ed25519 verify is synchronous here: crypto.verify on the calling thread).
//
// Time claims: fast-jwt takes a clock (clockTimestamp, ms): it gets the bench clock's
// time, so exp/iat are checked as in production; the issuer and subject are required.
import { createPublicKey } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import { cpuBatches, median, packageVersion, peerArguments } from './cpu_batches.mjs';

const { input: info, seconds } = peerArguments('fastjwt_verify.mjs', 'TOKEN_JSON');
const pem = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: info.public_key_b64url }, format: 'jwk' })
  .export({ type: 'spki', format: 'pem' });
const verify = createVerifier({
  key: pem,
  algorithms: ['EdDSA'],
  allowedIss: info.issuer,
  requiredClaims: ['exp', 'iat', 'sub'],
  clockTimestamp: info.now * 1000,
  cache: false,
});

const first = verify(info.token); // throws if fast-jwt does not accept the token
if (!first.sub) throw new Error('fast-jwt: token verified but has no subject');
// A token with one signature byte changed must be refused, or the loop below proves nothing.
const tampered = info.token.slice(0, -2) + (info.token.at(-2) === 'A' ? 'B' : 'A') + info.token.at(-1);
let refused = false;
try { verify(tampered); } catch { refused = true; }
if (!refused) throw new Error('fast-jwt accepted a tampered token');

const rates = cpuBatches(() => {
  if (!verify(info.token).sub) throw new Error('fast-jwt: no subject');
}, seconds);
const version = packageVersion('fast-jwt');
console.error(`fast-jwt ${version} (node ${process.version}): batches ${rates.map(Math.round).join(', ')} verifies/s`);
console.log(`RESULT fastjwt_per_second ${Math.round(median(rates))}`);

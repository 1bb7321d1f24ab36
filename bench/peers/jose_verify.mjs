// jose (npm, pinned in package.json) verifying the very token bench-jwt times.
//
//   node bench/peers/jose_verify.mjs TOKEN_JSON [SECONDS]
//
// TOKEN_JSON is what `bench-jwt --token-out=FILE` wrote. Warms up first (so V8's JIT has
// optimised the hot path: 1 s or a fifth of SECONDS), then verifies one token after the
// other (await each, the way a request handler would) for about SECONDS (default 5) in 5
// batches and prints `RESULT jose_per_second <n>` from the median batch. Wall time, not
// CPU time: in Node, WebCrypto's Ed25519 verify runs on libuv's thread pool, so process CPU
// time would count work on other threads and the event loop's waiting alike.
//
// Time claims: bench-jwt signs on a ManualClock, so the token's iat/exp are not relative
// to real time. jose takes a clock (currentDate): we give it the bench clock's time, so
// jose performs every claim check (exp, iat, issuer) exactly as it would in production.
import { importJWK, jwtVerify } from 'jose';
import { median, packageVersion, peerArguments } from './cpu_batches.mjs';

const { input: info, seconds } = peerArguments('jose_verify.mjs', 'TOKEN_JSON');
const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: info.public_key_b64url }, 'EdDSA');
const options = { algorithms: ['EdDSA'], issuer: info.issuer, currentDate: new Date(info.now * 1000) };

const verify = () => jwtVerify(info.token, key, options);
const first = await verify(); // rejects (throws) if jose does not accept the token
if (!first.payload.sub) throw new Error('jose: token verified but has no subject');

async function runFor(ms) {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100; ++i) await verify();
    n += 100;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (n * 1000) / elapsed;
}

await runFor(Math.max(1000, (seconds * 1000) / 5)); // warm-up, not reported
const rates = [];
for (let b = 0; b < 5; ++b) rates.push(await runFor((seconds * 1000) / 5));
const version = packageVersion('jose');
console.error(`jose ${version} (node ${process.version}): batches ${rates.map(Math.round).join(', ')} verifies/s`);
console.log(`RESULT jose_per_second ${Math.round(median(rates))}`);

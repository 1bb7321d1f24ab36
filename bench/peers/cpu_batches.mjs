// What the Node.js peers share: their command line, and the timing of the synchronous
// ones (fast-jwt, casbin): process CPU time, like Google Benchmark's CPU time for iam's
// figures and, unlike wall time, not inflated when a loaded machine preempts us.
import { readFileSync } from 'node:fs';

// `node SCRIPT INPUT_JSON [SECONDS]`: the input file's JSON and SECONDS (default 5); a
// usage line and exit status 2 without an input file.
export function peerArguments(script, inputName) {
  const [file, secondsArg] = process.argv.slice(2);
  if (!file) {
    console.error(`usage: node ${script} ${inputName} [SECONDS]`);
    process.exit(2);
  }
  return { input: JSON.parse(readFileSync(file, 'utf8')), seconds: secondsArg ? Number(secondsArg) : 5 };
}

// The version of an npm package installed beside the peers.
export function packageVersion(name) {
  return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
}

// CPU milliseconds (user + system) since `start` (a process.cpuUsage() value).
export function cpuMs(start) {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

// Calls `step` (one operation; it throws on a wrong answer) in runs of 100 for a warm-up
// (V8's JIT: 1 s or a fifth of `seconds`), then for about `seconds` in 5 batches, and
// returns the operations per CPU second of each batch.
export function cpuBatches(step, seconds) {
  const runFor = (ms) => {
    let n = 0;
    const start = process.cpuUsage();
    let elapsed = 0;
    while (elapsed < ms) {
      for (let i = 0; i < 100; ++i) step();
      n += 100;
      elapsed = cpuMs(start);
    }
    return (n * 1000) / elapsed;
  };
  runFor(Math.max(1000, (seconds * 1000) / 5)); // warm-up, not reported
  const rates = [];
  for (let b = 0; b < 5; ++b) rates.push(runFor((seconds * 1000) / 5));
  return rates;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

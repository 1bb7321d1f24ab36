// node-casbin (npm `casbin`, pinned in package.json) deciding the very questions
// bench-policy times iam's uncached authorise on.
//
//   node bench/peers/casbin_enforce.mjs WORKLOAD_JSON [SECONDS]
//
// WORKLOAD_JSON is what `bench-policy --workload-out=FILE` wrote: the roles with their
// capabilities, the users (iam's user id, role, home workspace) and the questions with the
// expected answers. The model is RBAC with domains (docs/performance.md):
//   r = sub, dom, obj;  p = sub, obj;  g = _, _, _
//   m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*")) && r.obj == p.obj
// p lines grant a role its capabilities; g lines give a user its role in its workspace,
// or in "*" for a role over every workspace (admin). enforceSync answers every question
// once (checked against the expected answer) and then in a loop for about SECONDS
// (default 5) in 5 batches after a warm-up, checking each answer; prints
// `RESULT casbin_enforce_ns <n>` (process CPU ns per decision, median batch).
import { newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import { cpuBatches, median, packageVersion, peerArguments } from './cpu_batches.mjs';

const { input: workload, seconds } = peerArguments('casbin_enforce.mjs', 'WORKLOAD_JSON');

const model = newModelFromString(`
[request_definition]
r = sub, dom, obj
[policy_definition]
p = sub, obj
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*")) && r.obj == p.obj
`);
const lines = [];
for (const [role, capabilities] of Object.entries(workload.roles))
  for (const capability of capabilities) lines.push(`p, ${role}, ${capability}`);
const everywhere = new Set(workload.every_workspace_roles);
for (const [user, role, workspace] of workload.users)
  lines.push(`g, ${user}, ${role}, ${everywhere.has(role) ? '*' : workspace}`);
const enforcer = await newEnforcer(model, new StringAdapter(lines.join('\n')));

const questions = workload.questions;
questions.forEach(([sub, dom, obj, expected], i) => {
  if (enforcer.enforceSync(sub, dom, obj) !== expected) throw new Error(`casbin answered question ${i} wrongly`);
});

let next = 0;
const rates = cpuBatches(() => {
  const [sub, dom, obj, expected] = questions[next];
  if (enforcer.enforceSync(sub, dom, obj) !== expected) throw new Error('casbin: a wrong answer');
  next = (next + 1) % questions.length;
}, seconds);
const times = rates.map((rate) => 1e9 / rate); // ns per decision
const version = packageVersion('casbin');
console.error(`casbin ${version} (node ${process.version}), ${workload.users.length} users, ` +
  `${questions.length} questions: batches ${times.map(Math.round).join(', ')} ns per decision`);
console.log(`RESULT casbin_enforce_ns ${Math.round(median(times))}`);

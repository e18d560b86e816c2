// Runs the graphql-http server audits against a GraphQL endpoint and prints a JSON summary.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
const summary = { ok: 0, warn: 0, error: 0, notOk: [] };
for (const result of results) {
  summary[result.status] += 1;
  if (result.status !== 'ok') {
    let body = null;
    try {
      body = await result.response.text();
    } catch {
      body = null;
    }
    summary.notOk.push({
      id: result.id,
      name: result.name,
      reason: result.reason,
      status: result.response?.status,
      body,
    });
  }
}
console.log(JSON.stringify(summary, null, 2));
process.exit(summary.warn + summary.error === 0 ? 0 : 1);

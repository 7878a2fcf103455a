// Writes one TypeScript module per dashboards/*.json that must satisfy Grafana's published Dashboard type
// (@grafana/schema); `tsc --noEmit --strict` then fails on any field the schema does not know or any wrong value type.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, basename } from 'node:path';

// node generate.mjs [dashboards directory] — the repository's dashboards/ by default.
const dashboards = process.argv[2] ?? join(import.meta.dirname, '..', '..', 'dashboards');
const out = join(import.meta.dirname, 'generated');
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = readdirSync(dashboards).filter(f => f.endsWith('.json'));
if (files.length === 0) {
  console.error(`no dashboards in ${dashboards}`);
  process.exit(1);
}
for (const f of files) {
  const json = JSON.parse(readFileSync(join(dashboards, f), 'utf8'));
  const name = basename(f, '.json').replace(/[^A-Za-z0-9]/g, '_');
  writeFileSync(join(out, `${name}.ts`),
    `// generated from dashboards/${f}\nimport type { Dashboard } from '@grafana/schema';\n\n` +
    `export const ${name} = ${JSON.stringify(json, null, 2)} satisfies Dashboard;\n`);
  console.log(`${f}: ${json.panels?.length ?? 0} panels`);
}

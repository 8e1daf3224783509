// Where the live stack is: `cargo xtask e2e` starts it and passes the addresses in the environment.
// A missing variable fails the test that needs it (never a silent skip).
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The value of `name`, or an error telling how these tests are meant to be run. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(
      `${name} is not set: run these tests through \`cargo xtask e2e\`, which starts the stack and sets it`,
    );
  }
  return value;
}

/** The gateway's base URL, e.g. `http://127.0.0.1:8080`, without a trailing slash. */
export function gatewayUrl(): string {
  return requireEnv("GATEWAY_URL").replace(/\/+$/, "");
}

/** The workspace root (tests run compiled from `clients/ts/dist/test/`). */
export const projectRoot = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../..",
);

/** A suffix that makes names and emails unique per run, since the database may not be empty. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

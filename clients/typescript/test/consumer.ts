// Runs the real purgebus consumer (cmd/consumer, --sandbox: embedded NATS,
// in-process fake Akamai that checks EdgeGrid signatures) for the
// end-to-end tests, on free ports and a temporary data directory.

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The module's root: clients/typescript/build/test/ is four levels below it. */
export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

let built: string | undefined;

/**
 * consumerBinary returns the consumer binary: $PURGEBUS_CONSUMER_BIN if
 * set, else one built once from this checkout with `go build`.
 */
export function consumerBinary(): string {
  const fromEnv = process.env["PURGEBUS_CONSUMER_BIN"];
  if (fromEnv) return fromEnv;
  if (built && existsSync(built)) return built;
  const dir = mkdtempSync(join(tmpdir(), "purgebus-ts-bin-"));
  const bin = join(dir, "consumer");
  execFileSync("go", ["build", "-o", bin, "./cmd/consumer"], { cwd: repoRoot, stdio: "inherit" });
  built = bin;
  return bin;
}

/** freePort returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Consumer is a running consumer process. */
export interface Consumer {
  url: string;
  /** Everything the consumer logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/** startConsumer starts a sandbox consumer and resolves once it runs. */
export async function startConsumer(extraArgs: string[] = []): Promise<Consumer> {
  const bin = consumerBinary();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "purgebus-ts-data-"));
  const args = ["--sandbox", "--nats-listen", `127.0.0.1:${port}`, "--http-addr", "", "--data-dir", dataDir, ...extraArgs];
  const child: ChildProcess = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer did not start within 60 s:\n${out}`)), 60_000);
    const check = () => {
      if (out.includes("consumer running")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", check);
    child.stderr?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`consumer exited with ${code}:\n${out}`));
    });
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    log: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

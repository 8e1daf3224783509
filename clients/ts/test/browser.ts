// Headless Chromium for the browser tests: Debian's Chromium driven by playwright-core (browser
// downloads do not work on our machines, so the system binary is used), in a fresh profile.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Debian's package `chromium`; CHROMIUM overrides it. */
const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";

/**
 * Flags for a closed network: without the background-networking ones Chromium keeps trying to
 * reach Google's hosts, and those connections are refused here.
 */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A running browser with one page; `close()` stops it and removes its profile. */
export interface Browser {
  page: Page;
  close(): Promise<void>;
}

/** Starts Chromium in a new profile directory named after `name`. */
export async function launchChromium(name: string): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), `${name}-chromium-`));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  return {
    page,
    async close() {
      await context?.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Swagger UI at /docs in a real browser: Debian's Chromium, driven by playwright-core (browser
// downloads do not work on our machines, so the system binary is used). Creates a user with
// "Try it out", reads it back, and saves a screenshot under target/e2e/.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import type { Locator, Page } from "playwright-core";

import type { User } from "../src/index.js";
import { type Browser, launchChromium } from "./browser.js";
import { gatewayUrl, projectRoot, uniqueSuffix } from "./env.js";

const SCREENSHOT = path.join(projectRoot, "target/e2e/swagger-ui.png");

describe("Swagger UI in headless Chromium", () => {
  let browser: Browser | undefined;
  let page: Page;

  before(async () => {
    browser = await launchChromium("swagger-ui");
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
  });

  /** Expands an operation (Swagger UI's id: `operations-<tag>-<operationId>`), clicks "Try it out". */
  async function tryItOut(tag: string, operationId: string): Promise<Locator> {
    const operation = page.locator(`#operations-${tag}-${operationId}`);
    await operation.locator(".opblock-summary").click();
    await operation.getByRole("button", { name: "Try it out" }).click();
    return operation;
  }

  /** Clicks Execute and returns the live response's status and body text. */
  async function execute(operation: Locator): Promise<{ status: string; body: string }> {
    await operation.getByRole("button", { name: "Execute" }).click();
    const live = operation.locator(".live-responses-table");
    const row = live.locator("tbody .response").first();
    await row.waitFor();
    const status = (await row.locator(".response-col_status").innerText()).trim();
    const body = await row.locator(".response-col_description pre").first().innerText();
    return { status, body };
  }

  it("creates a user with Try it out and reads it back", async () => {
    const response = await page.goto(`${gatewayUrl()}/docs`);
    assert.equal(response?.status(), 200);

    // The users operations are listed under their tag.
    const tag = page.locator("#operations-tag-UserService");
    await tag.waitFor();
    assert.match(await tag.innerText(), /UserService/);
    const create = page.locator("#operations-UserService-UserService_CreateUser");
    const read = page.locator("#operations-UserService-UserService_GetUser");
    assert.match(await create.locator(".opblock-summary").innerText(), /POST\s*\/api\/users/);
    assert.match(await read.locator(".opblock-summary").innerText(), /GET\s*\/api\/users\/\{id\}/);

    const email = `swagger+${uniqueSuffix()}@example.com`;
    await tryItOut("UserService", "UserService_CreateUser");
    await create
      .locator("textarea.body-param__text")
      .fill(JSON.stringify({ name: "Swagger User", email }, null, 2));
    const created = await execute(create);
    assert.equal(created.status, "200", created.body);
    const user = JSON.parse(created.body) as User;
    assert.equal(user.name, "Swagger User");
    assert.equal(user.email, email);
    assert.ok(user.id && /^\d+$/.test(user.id), `an int64 id as a string: ${created.body}`);

    await tryItOut("UserService", "UserService_GetUser");
    await read.locator('.parameters input[placeholder="id"]').fill(user.id);
    const got = await execute(read);
    assert.equal(got.status, "200", got.body);
    assert.deepEqual(JSON.parse(got.body), user);

    // The request URL Swagger UI shows is the gateway's own route.
    const requestUrl = await read.locator(".request-url pre").innerText();
    assert.equal(requestUrl.trim(), `${gatewayUrl()}/api/users/${user.id}`);

    await create.scrollIntoViewIfNeeded();
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
  });
});

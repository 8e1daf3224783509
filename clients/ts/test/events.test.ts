// Live purchase status in a real browser: an EventSource in headless Chromium, on a page of the
// gateway's own origin, follows a purchase made during the test through
// `GET /api/purchases/{id}:watch` (Server-Sent Events fed by the purchase events on NATS
// JetStream), including a refund made while it listens.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { createShopClient } from "../src/index.js";
import { type Browser, launchChromium } from "./browser.js";
import { gatewayUrl, uniqueSuffix } from "./env.js";

/** What the page reports of each event it received. */
interface Received {
  id: string;
  type: string;
  status: string;
}

describe("purchase status as Server-Sent Events in headless Chromium", () => {
  const client = createShopClient(gatewayUrl());
  let browser: Browser | undefined;

  before(async () => {
    browser = await launchChromium("events");
  });

  after(async () => {
    await browser?.close();
  });

  it("an EventSource receives PENDING, COMPLETED, then a live REFUNDED", async () => {
    const user = await client.POST("/api/users", {
      body: { name: "Event Watcher", email: `watcher+${uniqueSuffix()}@example.com` },
    });
    assert.ok(user.data?.id, JSON.stringify(user.error));
    const product = await client.POST("/api/products", {
      body: { name: "Headphones", price: 59.5 },
    });
    assert.ok(product.data?.id, JSON.stringify(product.error));

    const page = browser!.page;
    // Any page of the gateway's origin: EventSource then needs no CORS.
    const loaded = await page.goto(`${gatewayUrl()}/openapi.json`);
    assert.equal(loaded?.status(), 200);

    const received: Received[] = await page.evaluate(
      async ({ userId, productId }) => {
        const post = async (path: string, body: unknown) => {
          const response = await fetch(path, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
          return response.json();
        };
        // The purchase is made here, in the browser, during the test.
        const bought = await post("/api/purchases", { user_id: userId, product_id: productId });
        const id: string = bought.purchase.id;
        return await new Promise<Received[]>((resolve, reject) => {
          const seen: Received[] = [];
          const source = new EventSource(`/api/purchases/${id}:watch`);
          const timer = setTimeout(() => {
            source.close();
            reject(new Error(`only ${JSON.stringify(seen)} after 20 s`));
          }, 20_000);
          source.onmessage = (message: MessageEvent<string>) => {
            const data = JSON.parse(message.data);
            seen.push({
              id: message.lastEventId,
              type: data.event.type,
              status: data.event.purchase.status,
            });
            if (data.event.type === "PURCHASE_EVENT_TYPE_COMPLETED") {
              // Refunded while the page listens: the event arrives live on this stream.
              post(`/api/purchases/${id}:refund`, {}).catch(reject);
            }
            if (data.event.type === "PURCHASE_EVENT_TYPE_REFUNDED") {
              clearTimeout(timer);
              source.close();
              resolve(seen);
            }
          };
          // The gateway's error event carries a google.rpc.Status; the browser's own (a lost
          // connection) has no data and EventSource reconnects by itself.
          source.addEventListener("error", (event) => {
            const data = (event as MessageEvent<string>).data;
            if (data) {
              clearTimeout(timer);
              source.close();
              reject(new Error(`error event: ${data}`));
            }
          });
        });
      },
      { userId: user.data.id, productId: product.data.id },
    );

    assert.deepEqual(
      received.map(({ type, status }) => ({ type, status })),
      [
        { type: "PURCHASE_EVENT_TYPE_CREATED", status: "PURCHASE_STATUS_PENDING" },
        { type: "PURCHASE_EVENT_TYPE_COMPLETED", status: "PURCHASE_STATUS_COMPLETED" },
        { type: "PURCHASE_EVENT_TYPE_REFUNDED", status: "PURCHASE_STATUS_REFUNDED" },
      ],
    );
    // Event ids are the positions in the shop's event stream (shared by every purchase):
    // integers, increasing, which is what makes Last-Event-ID resume correct.
    const ids = received.map(({ id }) => Number(id));
    assert.ok(
      ids.every((id, i) => Number.isInteger(id) && id > 0 && (i === 0 || id > ids[i - 1]!)),
      `ids ${JSON.stringify(received.map(({ id }) => id))}`,
    );
  });
});

// The seed walkthrough from README.md, driven through the generated TypeScript client against a
// live stack, and the typed error bodies (google.rpc.Status) the gateway answers with.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Code, createShopClient, type Status } from "../src/index.js";
import { gatewayUrl, uniqueSuffix } from "./env.js";

describe("generated client against the live gateway", () => {
  const client = createShopClient(gatewayUrl());

  it("runs the seed walkthrough: user, product, both together, purchase, read back", async () => {
    const email = `john+${uniqueSuffix()}@example.com`;

    const createdUser = await client.POST("/api/users", {
      body: { name: "John Doe", email },
    });
    assert.equal(createdUser.response.status, 200, JSON.stringify(createdUser.error));
    const user = createdUser.data;
    assert.ok(user?.id, "the created user has an id");
    assert.match(user.id, /^\d+$/, "int64 ids are JSON strings");
    assert.equal(user.name, "John Doe");
    assert.equal(user.email, email);

    const createdProduct = await client.POST("/api/products", {
      body: { name: "Laptop", price: 1299.99 },
    });
    assert.equal(createdProduct.response.status, 200, JSON.stringify(createdProduct.error));
    const product = createdProduct.data;
    assert.ok(product?.id, "the created product has an id");
    assert.equal(product.name, "Laptop");
    assert.equal(product.price, 1299.99);

    const pair = await client.GET("/api/purchases/user/{user_id}/product/{product_id}", {
      params: { path: { user_id: user.id, product_id: product.id } },
    });
    assert.equal(pair.response.status, 200, JSON.stringify(pair.error));
    assert.deepEqual(pair.data, { user, product });

    const bought = await client.POST("/api/purchases", {
      body: { user_id: user.id, product_id: product.id },
    });
    assert.equal(bought.response.status, 200, JSON.stringify(bought.error));
    const purchase = bought.data?.purchase;
    assert.ok(purchase?.id, "the purchase has an id");
    assert.equal(purchase.user_id, user.id);
    assert.equal(purchase.product_id, product.id);
    assert.equal(purchase.amount, 1299.99);
    assert.equal(purchase.status, "PURCHASE_STATUS_COMPLETED");
    assert.ok(purchase.created_at, "the purchase has a timestamp");
    assert.ok(!Number.isNaN(Date.parse(purchase.created_at)), "created_at is RFC 3339");
    assert.deepEqual(bought.data?.user, user);
    assert.deepEqual(bought.data?.product, product);

    const readBack = await client.GET("/api/purchases/{id}", {
      params: { path: { id: purchase.id } },
    });
    assert.equal(readBack.response.status, 200, JSON.stringify(readBack.error));
    // The product's sold_count follows the purchase's event (eventually consistent), so it may
    // already have moved since the purchase's answer: compared apart.
    assert.deepEqual(withoutSoldCount(readBack.data), withoutSoldCount(bought.data));

    const ofUser = await client.GET("/api/users/{user_id}/purchases", {
      params: { path: { user_id: user.id } },
    });
    assert.equal(ofUser.response.status, 200, JSON.stringify(ofUser.error));
    assert.deepEqual(ofUser.data?.user, user);
    assert.deepEqual(ofUser.data?.purchases, [purchase]);
    assert.deepEqual(ofUser.data?.products?.map(productSansCount), [productSansCount(product)]);

    const userBack = await client.GET("/api/users/{id}", { params: { path: { id: user.id } } });
    assert.deepEqual(userBack.data, user);
    // One completed purchase: the product's sold_count reaches 1 within moments.
    const productId = product.id;
    const readProduct = async () => {
      const { data } = await client.GET("/api/products/{id}", {
        params: { path: { id: productId } },
      });
      assert.ok(data, "the product reads back");
      return data;
    };
    const deadline = Date.now() + 10_000;
    let productBack = await readProduct();
    while (productBack.sold_count !== "1") {
      assert.ok(Date.now() < deadline, `sold_count stayed ${productBack.sold_count}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      productBack = await readProduct();
    }
    assert.deepEqual(productSansCount(productBack), productSansCount(product));
  });

  it("runs the purchase lifecycle: Idempotency-Key replay, refund once, decline", async () => {
    const email = `lifecycle+${uniqueSuffix()}@example.com`;
    const user = (await client.POST("/api/users", { body: { name: "Jane Roe", email } })).data;
    assert.ok(user?.id, "the user is created");
    const pen = (await client.POST("/api/products", { body: { name: "Pen", price: 2.5 } })).data;
    assert.ok(pen?.id, "the product is created");
    const ink = (await client.POST("/api/products", { body: { name: "Ink", price: 4.99 } })).data;
    assert.ok(ink?.id, "the product is created");

    // The same POST twice under one Idempotency-Key: one purchase, the same answer.
    const key = `order-${uniqueSuffix()}`;
    const [userId, penId] = [user.id, pen.id];
    const buyPen = () =>
      client.POST("/api/purchases", {
        body: { user_id: userId, product_id: penId },
        // A declared header parameter (`gateway.v1.header`): typed, from the OpenAPI document.
        params: { header: { "Idempotency-Key": key } },
      });
    const first = await buyPen();
    assert.equal(first.response.status, 200, JSON.stringify(first.error));
    const purchase = first.data?.purchase;
    assert.ok(purchase?.id, "the purchase has an id");
    assert.equal(purchase.status, "PURCHASE_STATUS_COMPLETED");
    assert.equal(purchase.failure_reason, "");
    const replayed = await buyPen();
    assert.equal(replayed.response.status, 200, JSON.stringify(replayed.error));
    assert.deepEqual(replayed.data, first.data, "the same key answers the same purchase");

    // The key with another body is a conflict naming it.
    const conflict = await client.POST("/api/purchases", {
      body: { user_id: user.id, product_id: ink.id },
      params: { header: { "Idempotency-Key": key } },
    });
    assert.equal(conflict.response.status, 409);
    assert.equal(conflict.error?.code, Code.ALREADY_EXISTS);
    assert.ok(conflict.error?.message.includes(key), conflict.error?.message);

    // COMPLETED -> REFUNDED once; a second refund is a 400 and refunds nothing.
    const purchaseId = purchase.id;
    const refund = () =>
      client.POST("/api/purchases/{id}:refund", {
        params: { path: { id: purchaseId } },
        body: {},
      });
    const refunded = await refund();
    assert.equal(refunded.response.status, 200, JSON.stringify(refunded.error));
    assert.deepEqual(refunded.data?.purchase, { ...purchase, status: "PURCHASE_STATUS_REFUNDED" });
    const again = await refund();
    assert.equal(again.response.status, 400);
    assert.equal(again.error?.code, Code.FAILED_PRECONDITION);
    assert.match(again.error?.message ?? "", /already REFUNDED/);

    // Above the payments service's limit (10,000.00 by default) the charge is declined.
    const car = (await client.POST("/api/products", { body: { name: "Car", price: 20000 } })).data;
    assert.ok(car?.id, "the product is created");
    const declined = await client.POST("/api/purchases", {
      body: { user_id: user.id, product_id: car.id },
    });
    assert.equal(declined.response.status, 200, JSON.stringify(declined.error));
    assert.equal(declined.data?.purchase?.status, "PURCHASE_STATUS_FAILED");
    assert.match(declined.data?.purchase?.failure_reason ?? "", /^payment declined: /);
  });

  it("types a missing user as a 404 with a google.rpc.Status body", async () => {
    const missing = "9223372036854775807";
    const { data, error, response } = await client.GET("/api/users/{id}", {
      params: { path: { id: missing } },
    });
    assert.equal(response.status, 404);
    assert.equal(data, undefined);
    assert.ok(error, "an error body is returned");
    // `error` is typed from the document's `default` response: no cast needed.
    const status: Status = error;
    assert.equal(status.code, Code.NOT_FOUND);
    assert.equal(typeof status.message, "string");
    assert.ok(status.message.length > 0, "the message says what is missing");
    assert.ok(Array.isArray(status.details), "details is a list");
  });

  it("types malformed JSON as a 400 INVALID_ARGUMENT", async () => {
    const { error, response } = await client.POST("/api/users", {
      body: { name: "John Doe", email: "john@example.com" },
      // Send something that is not JSON at all, through the same typed call.
      bodySerializer: () => '{"name": "John Doe", "email": ',
    });
    assert.equal(response.status, 400);
    assert.ok(error, "an error body is returned");
    assert.equal(error.code, Code.INVALID_ARGUMENT);
    assert.match(error.message, /json/i);
    assert.deepEqual(error.details, []);
  });

  it("types an invalid field as a 400 naming the field", async () => {
    const { error, response } = await client.POST("/api/products", {
      body: { name: "Broken", price: -1 },
    });
    assert.equal(response.status, 400);
    assert.equal(error?.code, Code.INVALID_ARGUMENT);
    assert.match(error?.message ?? "", /price/);
  });

  it("types a taken email as a 409 ALREADY_EXISTS", async () => {
    const email = `taken+${uniqueSuffix()}@example.com`;
    const first = await client.POST("/api/users", { body: { name: "First", email } });
    assert.equal(first.response.status, 200, JSON.stringify(first.error));
    const second = await client.POST("/api/users", {
      body: { name: "Second", email: email.toUpperCase() },
    });
    assert.equal(second.response.status, 409);
    assert.equal(second.error?.code, Code.ALREADY_EXISTS);
  });
});

/** A product without its sold_count (which follows purchases asynchronously). */
function productSansCount<P extends { sold_count?: string }>(product: P): Omit<P, "sold_count"> {
  const { sold_count: _soldCount, ...rest } = product;
  return rest;
}

/** A purchase answer with its product's sold_count left out. */
function withoutSoldCount<T extends { product?: { sold_count?: string } }>(
  answer: T | undefined,
): unknown {
  if (answer?.product === undefined) return answer;
  return { ...answer, product: productSansCount(answer.product) };
}

// grpcurl-style use of the services: `buf curl` (npm `@bufbuild/buf`) with no proto files, run from
// an empty directory, learning every schema through gRPC server reflection.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { requireEnv, uniqueSuffix } from "./env.js";

const run = promisify(execFile);

/** The buf binary installed by `npm ci` in clients/ts. */
const BUF = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../node_modules/.bin/buf",
);

/** Base flags: plain gRPC over HTTP/2 without TLS; schemas from reflection only. */
const GRPC = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect"];

describe("buf curl through server reflection", () => {
  let emptyDir = "";
  before(() => {
    // No buf.yaml, no .proto anywhere up from here: reflection is the only source of schemas.
    emptyDir = mkdtempSync(path.join(tmpdir(), "buf-curl-"));
  });
  after(() => rmSync(emptyDir, { recursive: true, force: true }));

  async function buf(...args: string[]): Promise<string> {
    const { stdout } = await run(BUF, [...GRPC, ...args], { cwd: emptyDir, timeout: 30_000 });
    return stdout;
  }

  async function call(baseUrl: string, method: string, body: unknown): Promise<unknown> {
    return JSON.parse(await buf("--data", JSON.stringify(body), `${baseUrl}/${method}`));
  }

  const services = [
    {
      env: "USERS_GRPC_URL",
      service: "users.v1.UserService",
      methods: ["CreateUser", "GetUser", "ListUsers"],
    },
    {
      env: "PRODUCTS_GRPC_URL",
      service: "products.v1.ProductService",
      methods: ["CreateProduct", "GetProduct", "ListProducts"],
    },
    {
      env: "PURCHASES_GRPC_URL",
      service: "purchases.v1.PurchaseService",
      methods: [
        "CreatePurchase",
        "GetPurchase",
        "GetUserPurchases",
        "RefundPurchase",
        "WatchPurchase",
      ],
    },
    {
      env: "PAYMENTS_GRPC_URL",
      service: "payments.v1.PaymentService",
      methods: ["Charge", "GetCharge", "Refund"],
    },
  ] as const;

  for (const { env, service, methods } of services) {
    it(`lists ${service}'s services and methods`, async () => {
      const url = requireEnv(env);
      const listed = await buf("--list-services", url);
      console.log(`$ buf curl --protocol grpc --http2-prior-knowledge --list-services ${url}\n${listed}`);
      assert.deepEqual(listed.trim().split("\n").sort(), [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        service,
      ]);

      const listedMethods = await buf("--list-methods", url);
      console.log(`$ buf curl --protocol grpc --http2-prior-knowledge --list-methods ${url}\n${listedMethods}`);
      const ours = listedMethods
        .trim()
        .split("\n")
        .filter((line) => line.startsWith(`${service}/`));
      assert.deepEqual(ours.sort(), methods.map((m) => `${service}/${m}`).sort());
    });
  }

  it("creates and reads a user, a product and a purchase with JSON bodies", async () => {
    const users = requireEnv("USERS_GRPC_URL");
    const products = requireEnv("PRODUCTS_GRPC_URL");
    const purchases = requireEnv("PURCHASES_GRPC_URL");
    const email = `buf+${uniqueSuffix()}@example.com`;

    const created = (await call(users, "users.v1.UserService/CreateUser", {
      name: "Buf Curl",
      email,
    })) as { user: { id: string } };
    const userId = created.user.id;
    assert.match(userId, /^\d+$/);
    assert.deepEqual(await call(users, "users.v1.UserService/GetUser", { id: userId }), {
      user: { id: userId, name: "Buf Curl", email },
    });

    const product = (await call(products, "products.v1.ProductService/CreateProduct", {
      name: "Keyboard",
      price: 49.5,
    })) as { product: { id: string } };
    const productId = product.product.id;
    assert.deepEqual(
      await call(products, "products.v1.ProductService/GetProduct", { id: productId }),
      { product: { id: productId, name: "Keyboard", price: 49.5 } },
    );

    const bought = (await call(purchases, "purchases.v1.PurchaseService/CreatePurchase", {
      userId,
      productId,
    })) as { purchase: { id: string; createdAt: string } };
    const got = (await call(purchases, "purchases.v1.PurchaseService/GetPurchase", {
      id: bought.purchase.id,
    })) as { product: { soldCount?: string } };
    // The product's soldCount follows the purchase asynchronously (0 or 1 by now).
    assert.ok([undefined, "1"].includes(got.product.soldCount), JSON.stringify(got));
    delete got.product.soldCount;
    // buf curl prints proto3 JSON with lowerCamelCase names.
    assert.deepEqual(got, {
      purchase: {
        id: bought.purchase.id,
        userId,
        productId,
        amount: 49.5,
        status: "PURCHASE_STATUS_COMPLETED",
        createdAt: bought.purchase.createdAt,
      },
      user: { id: userId, name: "Buf Curl", email },
      product: { id: productId, name: "Keyboard", price: 49.5 },
    });
  });

  it("reports NOT_FOUND as a gRPC error through reflection", async () => {
    const users = requireEnv("USERS_GRPC_URL");
    await assert.rejects(
      buf("--data", '{"id":"9223372036854775807"}', `${users}/users.v1.UserService/GetUser`),
      (err: { code?: number; stderr?: string }) => {
        // buf curl exits with 8 x the gRPC code (NOT_FOUND = 5) and prints the status as JSON.
        assert.equal(err.code, 40);
        assert.match(err.stderr ?? "", /"code": "not_found"/);
        return true;
      },
    );
  });
});

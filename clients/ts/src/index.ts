// A small typed layer over the generated client: names for the schemas the shop's API uses and a
// constructor that points openapi-fetch at a gateway. Everything typed here comes from
// `generated/openapi.ts`, which `cargo xtask gen` writes from `openapi/openapi.json`.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";

import type { components, paths } from "./generated/openapi.js";

export type { components, operations, paths } from "./generated/openapi.js";

type Schemas = components["schemas"];

/** A user as the API returns it. */
export type User = Schemas["users.v1.User"];
/** A product as the API returns it. */
export type Product = Schemas["products.v1.Product"];
/** A purchase as the API returns it (amount and status set by the server). */
export type Purchase = Schemas["purchases.v1.Purchase"];
/** `POST /api/purchases` and `GET /api/purchases/{id}`: the purchase with its user and product. */
export type PurchaseDetails = Schemas["purchases.v1.CreatePurchaseResponse"];
/** `GET /api/users/{user_id}/purchases`: a user's purchases with the user and the products. */
export type UserPurchases = Schemas["purchases.v1.GetUserPurchasesResponse"];
/** Every error body: a `google.rpc.Status` whose `code` is the gRPC status code. */
export type Status = Schemas["gateway.v1.Status"];

/** The typed client for the shop's REST API. */
export type ShopClient = Client<paths>;

/**
 * A client for the gateway at `baseUrl` (e.g. `http://127.0.0.1:8080`). Paths, parameters, request
 * bodies, responses and error bodies are all typed from the OpenAPI document.
 */
export function createShopClient(
  baseUrl: string,
  options: Omit<ClientOptions, "baseUrl"> = {},
): ShopClient {
  return createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, "") });
}

/** gRPC status codes the gateway reports in `Status.code` (google.rpc.Code). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

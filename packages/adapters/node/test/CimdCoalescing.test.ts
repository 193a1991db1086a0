/**
 * Concurrent resolutions of one Client ID Metadata Document through the Node fetcher: the
 * document server on 127.0.0.1 sees one request, and every resolution gets the client.
 */
import { it } from "@effect/vitest"
import { ClientLookup, ProxyConfig, StorageKeys, Store, TokenStore } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { ClientMetadataDocumentServer } from "@oidc-proxy/testbed"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import * as NodeClientMetadataFetcher from "../src/NodeClientMetadataFetcher.ts"

const redirect = "http://127.0.0.1:8976/callback"

describe("CIMD fetch coalescing", () => {
  let docs: ClientMetadataDocumentServer.RunningDocumentServer
  beforeAll(async () => {
    docs = await ClientMetadataDocumentServer.startDocumentServer({
      document: (url) => ({
        client_id: url,
        client_name: "Coalescing test client",
        redirect_uris: [redirect],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      }),
    })
  })
  afterAll(async () => {
    await docs?.close()
  })

  const stack = (upstream: TestUpstream.TestUpstream) =>
    Layer.mergeAll(
      TokenStore.layer.pipe(
        Layer.provide(Store.layerMemory),
        Layer.provide(StorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(Layer.orDie)),
      ),
      NodeClientMetadataFetcher.layer({ ca: docs.ca, allowLoopback: true, timeoutMs: 2000 }),
    ).pipe(
      Layer.provideMerge(
        Layer.effect(
          ProxyConfig.Settings,
          Effect.orDie(
            ProxyConfig.decode(
              TestProxy.config(upstream, { client_id_metadata_documents: { allow_http_loopback: true } }),
            ),
          ),
        ),
      ),
    )

  it.live("resolve - 10 concurrent resolutions of one document URL make one fetch", () =>
    Effect.gen(function* () {
      const upstream = yield* TestUpstream.make()
      const before = docs.requests.length
      const clients = yield* Effect.all(
        Array.from({ length: 10 }, () => ClientLookup.fromDocument(docs.url)),
        { concurrency: "unbounded" },
      ).pipe(Effect.provide(stack(upstream)))
      expect(clients.map((c) => c.client_id)).toEqual(Array.from({ length: 10 }, () => docs.url))
      expect(docs.requests.length - before).toBe(1)
    }),
  )
})

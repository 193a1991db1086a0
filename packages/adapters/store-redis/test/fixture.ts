/**
 * The store-testkit fixture for Redis: a throwaway redis-server, one `RedisStore.layer` per
 * instance (a key prefix per test), and raw commands to read every key, publish on the
 * invalidation channel, count and kill the subscriber connections.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeRedis } from "@effect/platform-node"
import type { SharedStore } from "@oidc-proxy/store-testkit"
import { Effect } from "effect"
import { Redis } from "effect/persistence"
import { RedisCacheInvalidation, RedisStore } from "../src/index.ts"
import {
  describeWithRedis,
  freePort,
  type RedisServer,
  make as redisServer,
} from "../src/testing/RedisServer.ts"

const raw = <A, E>(url: string, f: (redis: Redis.Redis["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    return yield* f(yield* Redis.Redis)
  }).pipe(Effect.provide(NodeRedis.layer({ url })))

export const redis: SharedStore.Fixture<RedisServer> = {
  name: "Redis",
  subscriber: "subscriber",
  describe: describeWithRedis,
  layer: (url, prefix) => RedisStore.layer(prefix === undefined ? { url } : { url, prefix }),
  namespace: (label) => `${label}:`,
  dump: (url) =>
    raw(url, (r) =>
      Effect.gen(function* () {
        const keys = yield* r.send<Array<string>>("KEYS", "*")
        const values = yield* Effect.forEach(keys, (k) => r.send<string>("GET", k))
        return [...keys, ...values].join("\n")
      }),
    ),
  publish: (url, prefix, messages) =>
    raw(url, (r) =>
      Effect.forEach(messages, (m) => r.send("PUBLISH", RedisCacheInvalidation.channel(prefix), m), {
        discard: true,
      }),
    ),
  subscribers: (url, prefix) =>
    raw(url, (r) =>
      Effect.map(
        r.send<Array<unknown>>("PUBSUB", "NUMSUB", RedisCacheInvalidation.channel(prefix)),
        (reply) => Number(reply[1]),
      ),
    ),
  dropSubscribers: (url) => Effect.asVoid(raw(url, (r) => r.send("CLIENT", "KILL", "TYPE", "pubsub"))),
  // A server of its own, persisted to an append-only file, so that a crash (SIGKILL) keeps the data.
  restartable: () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "redis-inv-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
      )
      const server = redisServer(yield* Effect.promise(freePort), { dir })
      yield* Effect.acquireRelease(
        Effect.promise(() => server.start()),
        () => Effect.promise(() => server.stop()),
      )
      const restart = Effect.promise(async () => {
        await server.stop("SIGKILL")
        await server.start()
      })
      return { url: server.url, restart }
    }),
}

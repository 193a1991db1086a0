import { StoreConformance } from "@oidc-proxy/store-testkit"
import { Effect, Layer } from "effect"
import { RedisStore } from "../src/index.ts"
import { describeWithRedis } from "../src/testing/RedisServer.ts"

describeWithRedis("RedisStore", (server) => {
  // Redis expires keys itself, so the suite waits out real (short) TTLs: clock "live".
  StoreConformance.suite(
    "conformance",
    Layer.unwrap(Effect.sync(() => RedisStore.layer({ url: server().url }))),
    { clock: "live" },
  )
})

import { StoreConformance } from "@oidc-proxy/store-testkit"
import { Effect, Layer } from "effect"
import { PostgresStore } from "../src/index.ts"
import { describeWithPostgres } from "../src/testing/PostgresServer.ts"

describeWithPostgres("PostgresStore", (server) => {
  // Expiry is the server's clock (`clock_timestamp()`), so the suite waits out real (short) TTLs.
  StoreConformance.suite(
    "conformance",
    Layer.unwrap(Effect.sync(() => PostgresStore.layer({ url: server().url }))),
    { clock: "live" },
  )
})

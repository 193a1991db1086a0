import { StoreConformance } from "@oidc-proxy/store-testkit"
import { MapStore } from "../src/index.ts"

// The whole conformance kit, against the store written in src/MapStore.ts. Its expiry reads
// Effect's Clock, so the kit drives time with TestClock (the default, clock: "test").
StoreConformance.suite("MapStore", MapStore.layer)

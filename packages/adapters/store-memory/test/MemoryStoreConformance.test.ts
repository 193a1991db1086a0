import { StoreConformance } from "@oidc-proxy/store-testkit"
import * as MemoryStore from "../src/index.ts"

StoreConformance.suite("MemoryStore", MemoryStore.layer)

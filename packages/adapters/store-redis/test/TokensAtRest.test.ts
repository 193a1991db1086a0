/** No upstream token in clear in any Redis key or value: store-testkit's shared-store suite. */
import { SharedStore } from "@oidc-proxy/store-testkit"
import { redis } from "./fixture.ts"

SharedStore.tokensAtRest(redis)

/** No upstream token in clear in any PostgreSQL row: store-testkit's shared-store suite. */
import { SharedStore } from "@oidc-proxy/store-testkit"
import { postgresStore } from "./fixture.ts"

SharedStore.tokensAtRest(postgresStore)

/**
 * Revocation across instances over a real PostgreSQL server: store-testkit's shared-store suite
 * (two instances, each with its own `PostgresStore.layer`, i.e. its own pool and listening
 * connection), with the listening backends terminated and the server restarted over its data.
 */
import { SharedStore } from "@oidc-proxy/store-testkit"
import { postgresStore } from "./fixture.ts"

SharedStore.cacheInvalidation(postgresStore)

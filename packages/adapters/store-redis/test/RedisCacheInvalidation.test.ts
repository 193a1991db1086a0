/**
 * Revocation across instances over a real redis-server: store-testkit's shared-store suite (two
 * instances, each with its own `RedisStore.layer`, i.e. its own client and subscriber), with the
 * subscriber connections killed (`CLIENT KILL TYPE pubsub`) and the server crashed and restarted
 * over its append-only file.
 */
import { SharedStore } from "@oidc-proxy/store-testkit"
import { redis } from "./fixture.ts"

SharedStore.cacheInvalidation(redis)

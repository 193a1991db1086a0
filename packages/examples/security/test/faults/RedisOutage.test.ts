/**
 * Fault: Redis stops during a run (see StoreOutage.ts). The outage is the server process stopping
 * (SIGTERM) and a new one starting on the same port with the same append-only file
 * (`--appendonly yes --appendfsync always`), as a restarted or failed-over Redis would.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describeWithRedis, freePort, redisServer } from "./processes.ts"
import { storeOutage } from "./StoreOutage.ts"

storeOutage({
  name: "Redis",
  describe: describeWithRedis,
  start: async () => {
    const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-redis-outage-"))
    const redis = redisServer(await freePort(), dir)
    await redis.start()
    return {
      url: redis.url,
      stop: () => redis.stop(),
      start: () => redis.start(),
      dispose: async () => {
        await redis.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
})

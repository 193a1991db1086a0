/**
 * Fault: PostgreSQL stops during a run (see StoreOutage.ts). The outage is the server process
 * stopping (a fast shutdown: every connection cut) and a new one starting on the same port over
 * the same data directory, as a restarted or failed-over Postgres would.
 */
import { describeWithPostgres, freePort, postgresServer } from "./processes.ts"
import { storeOutage } from "./StoreOutage.ts"

storeOutage({
  name: "Postgres",
  describe: describeWithPostgres,
  start: async () => {
    const postgres = postgresServer(await freePort())
    await postgres.start()
    return {
      url: postgres.url,
      stop: () => postgres.stop(),
      start: () => postgres.start(),
      dispose: () => postgres.destroy(),
    }
  },
})

import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { StoreConformance } from "@oidc-proxy/store-testkit"
import { afterAll } from "vitest"
import { SqliteStore } from "../src/index.ts"

const dir = mkdtempSync(join(tmpdir(), "sqlite-store-conformance-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

StoreConformance.suite("SqliteStore", SqliteStore.layer({ filename: join(dir, "store.db") }))

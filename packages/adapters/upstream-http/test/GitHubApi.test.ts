/**
 * GitHubApi: `/user/orgs` read page by page (RFC 8288 `Link: rel="next"`), bounded, and only on
 * the API's own origin, against a real server on 127.0.0.1 that pages as GitHub does.
 */
import { assert, describe, it } from "@effect/vitest"
import { OAuthError } from "@oidc-proxy/core"
import { Effect, Exit } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import * as GitHubApi from "../src/GitHubApi.ts"
import { send } from "../src/internal/send.ts"
import * as FakeServer from "./support/FakeServer.ts"

const orgs = (count: number, allowedAt: number) =>
  Array.from({ length: count }, (_, i) => (i === allowedAt ? "acme" : `org-${i}`))

/** An API whose `/user/orgs` lists `logins`, paged; `nextOrigin` overrides the links' origin. */
const setup = (logins: ReadonlyArray<string>, nextOrigin?: string) =>
  Effect.gen(function* () {
    let origin = ""
    const server = yield* FakeServer.make((req, res) => {
      if (req.path !== "/user/orgs" || req.headers.authorization !== "Bearer gho_live")
        return FakeServer.json(res, 404, { message: "Not Found" })
      const perPage = Number(req.query.get("per_page") ?? "30")
      const page = Number(req.query.get("page") ?? "1")
      const last = Math.ceil(logins.length / perPage)
      const link = (n: number) => `<${nextOrigin ?? origin}/user/orgs?per_page=${perPage}&page=${n}>`
      const items = logins.slice((page - 1) * perPage, page * perPage).map((login, i) => ({ login, id: i }))
      FakeServer.json(
        res,
        200,
        items,
        page < last ? { link: `${link(page + 1)}; rel="next", ${link(last)}; rel="last"` } : {},
      )
    })
    origin = server.origin
    const client = yield* HttpClient.HttpClient
    const exchange: GitHubApi.Exchange = (request) =>
      send(client, request).pipe(
        Effect.mapError(
          (f) =>
            new OAuthError.UpstreamError({
              reason: "unreachable",
              retryable: true,
              description: f.description,
            }),
        ),
      )
    const identity = GitHubApi.identity(exchange, origin, "gho_live", ["read:org"], true)
    return { server, identity }
  }).pipe(Effect.provide(FetchHttpClient.layer))

describe("GitHubApi", () => {
  it.live("identity - an allowed organization on page 2 is read: every page is followed", () =>
    Effect.gen(function* () {
      const { server, identity } = yield* setup(orgs(150, 120))
      const claims = yield* identity
      assert.lengthOf(claims["orgs"] as Array<string>, 150)
      assert.include(claims["orgs"] as Array<string>, "acme")
      assert.isUndefined(claims["orgs_incomplete"])
      assert.deepStrictEqual(
        server.requests.map((r) => r.query.get("page")),
        [null, "2"],
      )
    }),
  )

  it.live("identity - past 10 pages the list is marked incomplete, not taken as all", () =>
    Effect.gen(function* () {
      const { server, identity } = yield* setup(orgs(1_050, 1_040))
      const claims = yield* identity
      assert.lengthOf(claims["orgs"] as Array<string>, GitHubApi.maxOrganizationPages * 100)
      assert.notInclude(claims["orgs"] as Array<string>, "acme")
      assert.isTrue(claims["orgs_incomplete"])
      assert.strictEqual(server.hits("/user/orgs"), GitHubApi.maxOrganizationPages)
    }),
  )

  it.live("identity - a next page on another origin is not followed (the token would go there)", () =>
    Effect.gen(function* () {
      const { server: elsewhere } = yield* setup([])
      const { server, identity } = yield* setup(orgs(150, 120), elsewhere.origin)
      const exit = yield* Effect.exit(identity)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(server.hits("/user/orgs"), 1)
      assert.strictEqual(elsewhere.requests.length, 0)
    }),
  )
})

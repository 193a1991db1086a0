/**
 * Finding the client behind a `client_id`: a registered (DCR) client from the store, or — when
 * the id is an https URL and CIMD is on — its Client ID Metadata Document, fetched, validated and
 * cached in the shared store.
 *
 * Effect over ports (Settings, TokenStore, ClientMetadataFetcher, Clock).
 * - Nothing is fetched for an id that breaks the URL rules, or when CIMD is off (a URL id is then
 *   an unknown client).
 * - A fresh cached document is used as is; a stale one is refetched. If the refetch fails, the
 *   cached copy keeps working until `stale_if_error_seconds` past its freshness.
 * - An invalid document is never stored (and replaces no cached copy: the cached copy is
 *   dropped).
 * - The cache is bounded whatever callers name: a host's documents share `maxDocumentsPerHost`
 *   slots (the slot is a hash of the URL; a new document replaces the one in its slot), and at
 *   most `maxDocumentHosts` hosts are kept, the oldest host dropped first with its documents. The
 *   key space is fixed per host, so concurrent writers cannot overshoot it; the host list is
 *   updated under one lock per process.
 *
 * @see [draft-ietf-oauth-client-id-metadata-document](https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/)
 * @since 0.1.0
 */
import { Clock, Effect, Option, Semaphore } from "effect"
import * as ClientIdMetadata from "./ClientIdMetadata.ts"
import * as ClientMetadataFetcher from "./ClientMetadataFetcher.ts"
import { type OAuthFailure, oauth, type StoreError } from "./OAuthError.ts"
import { advertisedScopes, type ProxyConfig, Settings } from "./ProxyConfig.ts"
import * as RedirectUri from "./RedirectUri.ts"
import type { Client } from "./RegisteredClient.ts"
import { TokenStore, type TokenStoreShape } from "./TokenStore.ts"

const unusable = (description: string) => oauth("invalid_client", description)

/**
 * Cached documents per host, at most.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxDocumentsPerHost = 8

/**
 * Hosts with cached documents, at most (so at most 4096 documents in all).
 *
 * @category constants
 * @since 0.1.0
 */
export const maxDocumentHosts = 512

/** FNV-1a: a stable spread of a host's URLs over its slots (not a secret: a host owns its slots). */
const slotOf = (url: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 0x01000193)
  return (h >>> 0) % maxDocumentsPerHost
}

/** Where `url`'s document is cached: its host and slot. */
const slotKey = (url: string): { readonly host: string; readonly key: string } => {
  const host = new URL(url).host
  return { host, key: `${host}#${slotOf(url)}` }
}

const hostsLock = Semaphore.makeUnsafe(1)

/** Records `host` as the newest in the host list, dropping the oldest hosts and their documents. */
const rememberHost = (store: TokenStoreShape, host: string, ttlSeconds: number) =>
  hostsLock.withPermit(
    Effect.gen(function* () {
      const found = yield* store.clientDocumentHosts.get("all")
      const hosts = Option.isSome(found) ? found.value.hosts : []
      if (hosts.includes(host)) return
      const next = [...hosts, host]
      const dropped = next.splice(0, Math.max(0, next.length - maxDocumentHosts))
      for (const old of dropped)
        for (let slot = 0; slot < maxDocumentsPerHost; slot++)
          yield* store.clientDocuments.delete(`${old}#${slot}`)
      yield* store.clientDocumentHosts.set("all", { hosts: next }, `${ttlSeconds} seconds`)
    }),
  )

/** Fetches and validates a document (and its `jwks_uri`), or says why it cannot be used. */
const fetchDocument = (config: ProxyConfig, url: string, now: number) =>
  Effect.gen(function* () {
    const fetcher = yield* ClientMetadataFetcher.ClientMetadataFetcher
    const cimd = config.client_id_metadata_documents
    const fetched = yield* fetcher.fetch(url)
    const body = fetched.body as Record<string, unknown> | null
    let jwks: unknown
    const jwksUri = typeof body === "object" && body !== null ? body["jwks_uri"] : undefined
    if (
      typeof jwksUri === "string" &&
      body?.["token_endpoint_auth_method"] === "private_key_jwt" &&
      body["client_id"] === url &&
      body["jwks"] === undefined
    ) {
      const problem = ClientIdMetadata.urlProblem(jwksUri, { allowHttpLoopback: cimd.allow_http_loopback })
      if (problem !== undefined && !/must have a path/.test(problem))
        return { _tag: "Invalid" as const, failure: oauth("invalid_client_metadata", `jwks_uri ${problem}`) }
      jwks = (yield* fetcher.fetch(jwksUri)).body
    }
    const client = ClientIdMetadata.validate(
      url,
      fetched.body,
      {
        now,
        validScopes: config.scopes_supported.length > 0 ? advertisedScopes(config) : [],
        allowRedirectUri: RedirectUri.compilePatterns(config.registration.allowed_redirect_uris),
      },
      jwks,
    )
    if ("_tag" in client) return { _tag: "Invalid" as const, failure: client }
    const fresh = ClientIdMetadata.freshness(fetched.cacheControl, {
      min_seconds: cimd.cache_min_seconds,
      max_seconds: cimd.cache_max_seconds,
      default_seconds: cimd.cache_default_seconds,
    })
    return {
      _tag: "Valid" as const,
      record: {
        client,
        fetched_at: now,
        fresh_until: now + fresh,
        stale_until: now + fresh + cimd.stale_if_error_seconds,
      } satisfies ClientIdMetadata.CachedDocument,
    }
  })

/**
 * Resolves a Client ID Metadata Document URL to its client. Fails with `invalid_client` when the
 * URL breaks the rules, the document cannot be fetched (and no usable cached copy exists), or the
 * document is invalid.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromDocument = (
  url: string,
): Effect.Effect<Client, OAuthFailure | StoreError, Settings | TokenStore> =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const cimd = config.client_id_metadata_documents
    const problem = ClientIdMetadata.urlProblem(url, { allowHttpLoopback: cimd.allow_http_loopback })
    if (problem !== undefined) return yield* unusable(`client_id ${problem}`)
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const slot = slotKey(url)
    // The slot may hold another URL of the host: that is a miss.
    const cached = Option.filter(
      yield* store.clientDocuments.get(slot.key),
      (record) => record.client.client_id === url,
    )
    if (Option.isSome(cached) && now < cached.value.fresh_until) return cached.value.client
    const fetched = yield* Effect.result(fetchDocument(config, url, now))
    if (fetched._tag === "Failure") {
      const e = fetched.failure
      if (Option.isSome(cached) && now < cached.value.stale_until) {
        yield* Effect.logWarning("client metadata document refetch failed; using the cached copy").pipe(
          Effect.annotateLogs({ reason: e.reason }),
        )
        return cached.value.client
      }
      yield* Effect.logInfo("client metadata document not usable").pipe(
        Effect.annotateLogs({ reason: e.reason }),
      )
      return yield* unusable(`The client metadata document could not be fetched (${e.reason})`)
    }
    if (fetched.success._tag === "Invalid") {
      if (Option.isSome(cached)) yield* store.clientDocuments.delete(slot.key)
      return yield* unusable(
        `The client metadata document is invalid: ${fetched.success.failure.description}`,
      )
    }
    const record = fetched.success.record
    yield* rememberHost(store, slot.host, cimd.cache_max_seconds + cimd.stale_if_error_seconds)
    yield* store.clientDocuments.set(slot.key, record, `${record.stale_until - now} seconds`)
    return record.client
  })

/**
 * Finds the client behind `clientId`: none for an unknown id (including any URL id when CIMD is
 * off or no fetcher is configured); fails as `fromDocument` does for a URL id when CIMD is on.
 *
 * @category constructors
 * @since 0.1.0
 */
export const find = (
  clientId: string,
): Effect.Effect<Option.Option<Client>, OAuthFailure | StoreError, Settings | TokenStore> =>
  Effect.gen(function* () {
    if (!ClientIdMetadata.isUrlClientId(clientId)) return yield* (yield* TokenStore).clients.get(clientId)
    const config = yield* Settings
    if (!config.client_id_metadata_documents.enabled) return Option.none()
    if (!ClientMetadataFetcher.isConfigured(yield* ClientMetadataFetcher.ClientMetadataFetcher))
      return Option.none()
    return Option.some(yield* fromDocument(clientId))
  })

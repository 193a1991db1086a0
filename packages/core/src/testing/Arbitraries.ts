/**
 * fast-check arbitraries for the core's domain values, so users can property-test their own scope
 * rules, verifiers and stores the way this project does.
 *
 * @since 0.1.0
 */
import * as fc from "fast-check"
import type { UpstreamTokenSet } from "../UpstreamTokenSet.ts"
import type { VerificationMode } from "../VerificationMode.ts"
import type { VerifiedClaims } from "../VerifiedClaims.ts"

/**
 * One scope token: printable ASCII without space, `"` or `\` (RFC 6749 §3.3), including the
 * scopes real IdPs use (URIs, colons, dots).
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const scopeToken: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "openid",
    "profile",
    "email",
    "offline_access",
    "read",
    "write",
    "api://app/.default",
    "mcp:tools",
  ),
  fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,12}$/),
)

/**
 * A list of scope tokens with duplicates allowed.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const scopeList: fc.Arbitrary<ReadonlyArray<string>> = fc.array(scopeToken, { maxLength: 8 })

const whitespace = fc.stringMatching(/^[ \t\n\r]{1,3}$/)

/**
 * Renders a list of scopes as a `scope` string with arbitrary whitespace around and between the
 * tokens.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const scopeStringOf = (scopes: ReadonlyArray<string>): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.option(whitespace, { nil: "" }),
      fc.array(whitespace, { minLength: scopes.length, maxLength: scopes.length }),
      fc.option(whitespace, { nil: "" }),
    )
    .map(
      ([lead, seps, trail]) =>
        lead + scopes.map((s, i) => (i === 0 ? s : `${seps[i] ?? " "}${s}`)).join("") + trail,
    )

/**
 * A `scope` string with arbitrary whitespace and duplicates.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const scopeString: fc.Arbitrary<string> = scopeList.chain(scopeStringOf)

/**
 * @category arbitraries
 * @since 0.1.0
 */
export const verificationMode: fc.Arbitrary<VerificationMode> = fc.constantFrom("access_token", "id_token")

/** A JWT-shaped string (the value is never parsed by the pure functions). */
const jwtLike = fc
  .tuple(fc.base64String({ minLength: 4, maxLength: 24 }), fc.base64String({ minLength: 4, maxLength: 64 }))
  .map(([a, b]) => `eyJ${a.replace(/=/g, "")}.eyJ${b.replace(/=/g, "")}.sig`)

/**
 * Verified upstream claims with `scope` as a string, `scp` as a string or array, both, or
 * neither.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const verifiedClaims: fc.Arbitrary<VerifiedClaims> = fc.record(
  {
    iss: fc.constant("https://idp.example"),
    sub: fc.string({ minLength: 1, maxLength: 16 }),
    aud: fc.constant("client"),
    exp: fc.integer({ min: 1_700_000_000, max: 2_000_000_000 }),
    scope: scopeString,
    scp: fc.oneof(scopeString, scopeList),
  },
  { requiredKeys: ["iss", "sub"] },
)

/**
 * An upstream token set. With `sameToken` the id_token equals the access token (as SAP Cloud
 * Identity Services returns); otherwise it is absent, distinct, or equal at random.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const upstreamTokenSet = (
  options: { readonly sameToken?: boolean } = {},
): fc.Arbitrary<UpstreamTokenSet> =>
  fc
    .record({
      id: fc.uuid(),
      access_token: jwtLike,
      other: jwtLike,
      idShape:
        options.sameToken === true
          ? fc.constant("same" as const)
          : fc.constantFrom("same", "distinct", "absent"),
      refresh_token: fc.option(fc.string({ minLength: 1, maxLength: 32 }), { nil: undefined }),
      scope: scopeList,
      expires_at: fc.integer({ min: 1_700_000_000, max: 2_000_000_000 }),
    })
    .map(({ other, idShape, refresh_token, ...rest }) => ({
      ...rest,
      ...(idShape === "same"
        ? { id_token: rest.access_token }
        : idShape === "distinct"
          ? { id_token: other }
          : {}),
      ...(refresh_token === undefined ? {} : { refresh_token }),
      token_type: "Bearer",
      raw: {},
    }))

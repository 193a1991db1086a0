/**
 * `UpstreamTokenSet.isDecoded`, the cheap check that lets a stored token set skip the Schema
 * decode, against the Schema (the single source of truth): whenever it says yes, the Schema
 * decodes the value to an equal value; records it says no to still go through the Schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option, Schema } from "effect"
import * as fc from "fast-check"
import { Arbitraries } from "../src/testing/index.ts"
import { isDecoded, UpstreamTokenSet } from "../src/UpstreamTokenSet.ts"

const decode = Schema.decodeUnknownOption(UpstreamTokenSet)

/** Whenever `isDecoded` accepts, the Schema decodes `value` to an equal value. */
const agrees = (value: unknown) => {
  if (!isDecoded(value)) return
  const decoded = decode(value)
  assert.isTrue(Option.isSome(decoded), JSON.stringify(value))
  assert.deepStrictEqual(Option.getOrThrow(decoded), value)
}

const record = fc
  .tuple(
    Arbitraries.upstreamTokenSet(),
    fc.option(fc.integer({ min: 1_700_000_000, max: 2_000_000_000 }), { nil: undefined }),
    fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    fc.option(
      fc.record(
        {
          iss: fc.string({ maxLength: 12 }),
          sub: fc.string({ maxLength: 12 }),
          email: fc.string({ maxLength: 12 }),
          email_verified: fc.oneof(fc.boolean(), fc.string({ maxLength: 5 })),
          name: fc.string({ maxLength: 12 }),
          preferred_username: fc.string({ maxLength: 12 }),
        },
        { requiredKeys: ["iss", "sub"] },
      ),
      { nil: undefined },
    ),
  )
  .map(([set, refreshExpiresAt, raw, identity]) => ({
    ...set,
    ...(refreshExpiresAt === undefined ? {} : { refresh_expires_at: refreshExpiresAt }),
    ...(identity === undefined ? {} : { identity }),
    raw,
  }))

/** A stored record as read back: JSON text parsed again. */
const parsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

const members = Object.keys(UpstreamTokenSet.fields)

describe("UpstreamTokenSet", () => {
  it("isDecoded - every record the proxy writes is recognised, and decodes to itself", () => {
    fc.assert(
      fc.property(record, (value) => {
        const read = parsed(Schema.encodeSync(UpstreamTokenSet)(value))
        assert.isTrue(isDecoded(read))
        agrees(read)
      }),
      { numRuns: 300 },
    )
  })

  it("isDecoded - on altered records (members dropped, retyped, added), yes implies the Schema agrees", () => {
    const alteration = fc.oneof(
      fc.record({ drop: fc.constantFrom(...members) }),
      fc.record({
        key: fc.oneof(fc.constantFrom(...members), fc.constantFrom("__proto__", "legacy", "constructor")),
        value: fc.oneof(
          fc.jsonValue({ maxDepth: 2 }),
          fc.constantFrom("", 0, -1, 1.5, null, [], {}, ["a", 1], { __proto__: null }),
        ),
      }),
    )
    fc.assert(
      fc.property(record, fc.array(alteration, { minLength: 1, maxLength: 3 }), (value, changes) => {
        const altered = parsed(value) as Record<string, unknown>
        for (const change of changes) {
          if ("drop" in change) delete altered[change.drop]
          else
            Object.defineProperty(altered, change.key, {
              value: change.value,
              enumerable: true,
              writable: true,
              configurable: true,
            })
        }
        agrees(altered)
        agrees(parsed(altered))
      }),
      { numRuns: 1000 },
    )
  })

  it("isDecoded - arbitrary JSON: yes implies the Schema agrees", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => agrees(value)),
      { numRuns: 500 },
    )
    for (const value of [
      null,
      [],
      "x",
      { raw: JSON.parse('{"__proto__": {"x": 1}}') },
      {
        ...(parsed(fc.sample(record, { numRuns: 1, seed: 1 })[0]) as object),
        raw: JSON.parse('{"__proto__": 1}'),
      },
      { ...(parsed(fc.sample(record, { numRuns: 1, seed: 2 })[0]) as object), expires_at: Number.NaN },
      { ...(parsed(fc.sample(record, { numRuns: 1, seed: 3 })[0]) as object), raw: Object.create(null) },
    ]) {
      agrees(value)
      assert.isFalse(isDecoded(value) && Object.hasOwn((value as { raw?: object }).raw ?? {}, "__proto__"))
    }
  })
})

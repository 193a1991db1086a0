/**
 * String equality whose time does not depend on where the strings differ: the one comparison of
 * a presented secret (PKCE challenge, client secret hash, CSRF token, browser binding, registration
 * token) with the stored one.
 *
 * Pure core, internal (not exported from the package).
 */

/** `true` when `a` and `b` are equal; the loop runs over the longer length whatever the contents. */
export const constantTimeEqual = (a: string, b: string): boolean => {
  const length = Math.max(a.length, b.length)
  let diff = a.length ^ b.length
  for (let i = 0; i < length; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0)
  return diff === 0
}

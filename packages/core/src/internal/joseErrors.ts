/**
 * The one translation from jose's errors to `InvalidToken` reasons.
 *
 * Descriptions are fixed strings per reason plus, at most, the name of the failing claim: jose's
 * messages are not forwarded, so no token content can reach a response or a log line.
 */
import { errors } from "jose"
import { InvalidToken, type InvalidTokenReason } from "../OAuthError.ts"

const who = (source: "proxy" | "upstream") => (source === "proxy" ? "access token" : "upstream token")

const make = (source: "proxy" | "upstream", reason: InvalidTokenReason, description: string) =>
  new InvalidToken({ source, reason, description: `The ${who(source)} ${description}` })

/** Maps any failure of a jose verification to a precise `InvalidToken`. */
export const fromJoseError = (source: "proxy" | "upstream", error: unknown): InvalidToken => {
  if (error instanceof errors.JWTExpired) return make(source, "expired", "expired")
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "iss":
        return make(source, "issuer", "has an unexpected issuer (iss)")
      case "aud":
        return make(source, "audience", "has an unexpected audience (aud)")
      case "nbf":
        return make(source, "not_yet_valid", "is not yet valid (nbf)")
      case "iat":
        return make(source, "not_yet_valid", "was issued in the future (iat)")
      case "typ":
        return make(source, "token_type", "is not an access token (typ)")
      default:
        return make(
          source,
          "claims",
          `has an invalid claim (${error.claim.replace(/[^\w-]/g, "").slice(0, 32)})`,
        )
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return make(source, "algorithm", "is signed with an algorithm that is not allowed")
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return make(source, "signature", "signature does not verify")
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return make(source, "unknown_kid", "is signed with an unknown key (kid)")
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return make(source, "malformed", "is not a well-formed JWT")
  }
  if (error instanceof TypeError || error instanceof SyntaxError) {
    return make(source, "malformed", "is not a well-formed JWT")
  }
  return make(source, "signature", "could not be verified")
}

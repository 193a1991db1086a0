/**
 * Which upstream token the proxy verifies on every request.
 *
 * Pure core. `access_token`: the upstream access token is a JWT for this resource and its claims
 * carry the scopes. `id_token`: the upstream access token is opaque or meant for another audience
 * (SAP Cloud Identity Services, Google), so the id_token proves the identity and the scopes are the
 * ones recorded when the upstream token set was obtained.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * @category schemas
 * @since 0.1.0
 */
export const VerificationMode = Schema.Literals(["access_token", "id_token"])

/**
 * @category models
 * @since 0.1.0
 */
export type VerificationMode = typeof VerificationMode.Type

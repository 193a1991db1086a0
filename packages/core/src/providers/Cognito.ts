/**
 * Amazon Cognito user pools as the upstream. The issuer is the user pool,
 * `https://cognito-idp.{region}.amazonaws.com/{userPoolId}` (the region is the pool id's prefix);
 * its discovery document names the hosted UI domain's `/oauth2/authorize` and `/oauth2/token`, so
 * the pool needs a domain.
 *
 * Pure core. Cognito access tokens carry no `aud`; they name the app client in `client_id`, which
 * must equal the proxy's (`upstream.access_token_client_id`), so tokens of the pool's other app
 * clients are refused. Scopes are the `scope` string; groups are `cognito:groups`, which the access
 * rules read.
 *
 * @see [Cognito: Understanding the access token](https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html)
 * @see [Cognito: Verifying a JSON web token](https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { clientId, InvalidPreset } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /** The user pool id, e.g. `eu-west-1_AbCdEf123`. */
  readonly user_pool_id: string
}

/**
 * Throws `InvalidPreset` for a user pool id not of the form `{region}_{id}`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const cognito = (options: Options): Fragment => {
  const match = /^([a-z]{2}(?:-[a-z]+)+-\d)_[A-Za-z0-9]+$/.exec(options.user_pool_id)
  if (match === null)
    throw new InvalidPreset({
      preset: "cognito",
      option: "user_pool_id",
      description: "must be a user pool id such as eu-west-1_AbCdEf123",
    })
  return {
    verification_mode: "access_token",
    upstream: {
      issuer: options.issuer ?? `https://cognito-idp.${match[1]}.amazonaws.com/${options.user_pool_id}`,
      ...clientId(options),
      access_token_client_id: true,
      scopes: ["openid", "email", "profile"],
    },
  }
}

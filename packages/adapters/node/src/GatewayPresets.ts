/**
 * `OIDC_PROXY_PROVIDER`: a named preset fills in the gateway variables a provider needs (issuer,
 * verification mode, scopes, parameters, audience, access rules), from core's `Providers` and the
 * few provider variables (`OIDC_PROXY_ENTRA_TENANT`, …).
 *
 * Adapter (configuration). A preset supplies *texts* for the table's variables, used when the
 * environment leaves them unset (`oidc-proxy check` shows them with the source `preset`), so every
 * variable can still be set by hand. `OIDC_PROXY_UPSTREAM_ISSUER`, when set, is also handed to the
 * preset so what it derives from the issuer (Entra's `{tenantid}` template) follows it. A problem
 * names the variable and the preset.
 *
 * @since 0.1.0
 */
import { Providers } from "@oidc-proxy/core"
import { Result } from "effect"

/**
 * The preset names `OIDC_PROXY_PROVIDER` accepts.
 *
 * @category constants
 * @since 0.1.0
 */
export const names = Providers.names

/**
 * @category models
 * @since 0.1.0
 */
export type Name = Providers.Name

type Env = Readonly<Record<string, string | undefined>>

/** An environment value, trimmed; unset or blank is `undefined`. */
const get = (env: Env, name: string): string | undefined => {
  const raw = env[name]?.trim()
  return raw === undefined || raw === "" ? undefined : raw
}
const list = (env: Env, name: string): ReadonlyArray<string> | undefined =>
  get(env, name)
    ?.split(/\s+/)
    .filter((w) => w !== "")

/**
 * The provider variables, each read only with its preset.
 *
 * @category constants
 * @since 0.1.0
 */
export const providerVariables = {
  OIDC_PROXY_ENTRA_TENANT: {
    preset: "entra",
    description: "Entra tenant: tenant id (GUID), common, organizations or consumers",
  },
  OIDC_PROXY_ENTRA_API_SCOPES: {
    preset: "entra",
    description: "Entra: space-separated api://… scopes of your API (then its access tokens are verified)",
  },
  OIDC_PROXY_AUTH0_DOMAIN: { preset: "auth0", description: "Auth0 tenant domain, e.g. example.eu.auth0.com" },
  OIDC_PROXY_OKTA_DOMAIN: { preset: "okta", description: "Okta domain, e.g. example.okta.com" },
  OIDC_PROXY_OKTA_AUTHORIZATION_SERVER: {
    preset: "okta",
    description: "Okta custom authorization server id, or org for the org server (unset: default)",
  },
  OIDC_PROXY_KEYCLOAK_URL: {
    preset: "keycloak",
    description: "Keycloak base URL, e.g. https://sso.example.com",
  },
  OIDC_PROXY_KEYCLOAK_REALM: { preset: "keycloak", description: "Keycloak realm" },
  OIDC_PROXY_SAP_CIS_TENANT: {
    preset: "sap-cis",
    description: "SAP CIS tenant host, e.g. example.accounts.ondemand.com",
  },
  OIDC_PROXY_COGNITO_USER_POOL_ID: {
    preset: "cognito",
    description: "Cognito user pool id, e.g. eu-west-1_AbCdEf123",
  },
  OIDC_PROXY_GITHUB_URL: {
    preset: "github",
    description: "GitHub web base URL (authorize and token endpoints; default https://github.com)",
  },
} as const

type ProviderVariable = keyof typeof providerVariables

/** Each preset: its required provider variables, its run, and which variable each option comes from. */
interface Preset {
  /** Variables that must be set (provider variables, or table variables such as endpoints). */
  readonly required: ReadonlyArray<ProviderVariable> | ((env: Env) => ReadonlyArray<string>)
  readonly run: (
    env: Env,
    common: Providers.Common,
  ) => Result.Result<Providers.Fragment, Providers.InvalidPreset>
  readonly optionVariables: Readonly<Record<string, string>>
}

const endpointVariable = {
  authorization_endpoint: "OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT",
  token_endpoint: "OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT",
  userinfo_endpoint: "OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT",
  introspection_endpoint: "OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT",
  revocation_endpoint: "OIDC_PROXY_UPSTREAM_REVOCATION_ENDPOINT",
} as const

/** `oauth2`'s verification: introspection when asked for, otherwise userinfo. */
const oauth2Verification = (env: Env) =>
  get(env, "OIDC_PROXY_UPSTREAM_VERIFICATION") === "introspection" ? "introspection" : "userinfo"

const presets: Record<Exclude<Providers.Name, "oidc">, Preset> = {
  github: {
    required: [],
    run: (env, common) =>
      Providers.make(Providers.github, {
        ...common,
        ...opt("url", get(env, "OIDC_PROXY_GITHUB_URL")),
        ...opt("api_url", get(env, "OIDC_PROXY_GITHUB_API_URL")),
        ...opt("organizations", list(env, "OIDC_PROXY_ALLOWED_ORGS")),
      }),
    optionVariables: {
      url: "OIDC_PROXY_GITHUB_URL",
      api_url: "OIDC_PROXY_GITHUB_API_URL",
      issuer: "OIDC_PROXY_UPSTREAM_ISSUER",
    },
  },
  oauth2: {
    required: (env) => [
      endpointVariable.authorization_endpoint,
      endpointVariable.token_endpoint,
      endpointVariable[`${oauth2Verification(env)}_endpoint`],
    ],
    run: (env, common) => {
      const endpoint = (key: keyof typeof endpointVariable) => opt(key, get(env, endpointVariable[key]))
      return Providers.make(Providers.oauth2, {
        ...common,
        authorization_endpoint: get(env, endpointVariable.authorization_endpoint) ?? "",
        token_endpoint: get(env, endpointVariable.token_endpoint) ?? "",
        verification: oauth2Verification(env),
        ...endpoint("userinfo_endpoint"),
        ...endpoint("introspection_endpoint"),
        ...endpoint("revocation_endpoint"),
      })
    },
    optionVariables: { ...endpointVariable, issuer: "OIDC_PROXY_UPSTREAM_ISSUER" },
  },
  google: {
    required: [],
    run: (env, common) =>
      Providers.make(Providers.google, {
        ...common,
        ...opt("hosted_domains", list(env, "OIDC_PROXY_ALLOWED_HOSTED_DOMAINS")),
      }),
    optionVariables: { issuer: "OIDC_PROXY_UPSTREAM_ISSUER" },
  },
  entra: {
    required: ["OIDC_PROXY_ENTRA_TENANT"],
    run: (env, common) =>
      Providers.make(Providers.entra, {
        ...common,
        tenant: get(env, "OIDC_PROXY_ENTRA_TENANT") ?? "",
        ...opt("api_scopes", list(env, "OIDC_PROXY_ENTRA_API_SCOPES")),
        ...opt("audience", get(env, "OIDC_PROXY_UPSTREAM_AUDIENCE")),
      }),
    optionVariables: {
      tenant: "OIDC_PROXY_ENTRA_TENANT",
      api_scopes: "OIDC_PROXY_ENTRA_API_SCOPES",
      audience: "OIDC_PROXY_UPSTREAM_AUDIENCE",
      issuer: "OIDC_PROXY_UPSTREAM_ISSUER",
    },
  },
  auth0: {
    required: ["OIDC_PROXY_AUTH0_DOMAIN"],
    run: (env, common) =>
      Providers.make(Providers.auth0, {
        ...common,
        domain: get(env, "OIDC_PROXY_AUTH0_DOMAIN") ?? "",
        audience: get(env, "OIDC_PROXY_UPSTREAM_AUDIENCE") ?? "",
      }),
    optionVariables: { domain: "OIDC_PROXY_AUTH0_DOMAIN", audience: "OIDC_PROXY_UPSTREAM_AUDIENCE" },
  },
  okta: {
    required: ["OIDC_PROXY_OKTA_DOMAIN"],
    run: (env, common) => {
      const server = get(env, "OIDC_PROXY_OKTA_AUTHORIZATION_SERVER")
      return Providers.make(Providers.okta, {
        ...common,
        domain: get(env, "OIDC_PROXY_OKTA_DOMAIN") ?? "",
        ...(server === undefined ? {} : { authorization_server: server === "org" ? null : server }),
        ...opt("audience", get(env, "OIDC_PROXY_UPSTREAM_AUDIENCE")),
      })
    },
    optionVariables: {
      domain: "OIDC_PROXY_OKTA_DOMAIN",
      authorization_server: "OIDC_PROXY_OKTA_AUTHORIZATION_SERVER",
      audience: "OIDC_PROXY_UPSTREAM_AUDIENCE",
    },
  },
  keycloak: {
    required: ["OIDC_PROXY_KEYCLOAK_URL", "OIDC_PROXY_KEYCLOAK_REALM"],
    run: (env, common) =>
      Providers.make(Providers.keycloak, {
        ...common,
        base_url: get(env, "OIDC_PROXY_KEYCLOAK_URL") ?? "",
        realm: get(env, "OIDC_PROXY_KEYCLOAK_REALM") ?? "",
        ...opt("audience", get(env, "OIDC_PROXY_UPSTREAM_AUDIENCE")),
      }),
    optionVariables: {
      base_url: "OIDC_PROXY_KEYCLOAK_URL",
      realm: "OIDC_PROXY_KEYCLOAK_REALM",
      audience: "OIDC_PROXY_UPSTREAM_AUDIENCE",
    },
  },
  "sap-cis": {
    required: ["OIDC_PROXY_SAP_CIS_TENANT"],
    run: (env, common) =>
      Providers.make(Providers.sapCis, {
        ...common,
        tenant_host: get(env, "OIDC_PROXY_SAP_CIS_TENANT") ?? "",
      }),
    optionVariables: { tenant_host: "OIDC_PROXY_SAP_CIS_TENANT" },
  },
  cognito: {
    required: ["OIDC_PROXY_COGNITO_USER_POOL_ID"],
    run: (env, common) =>
      Providers.make(Providers.cognito, {
        ...common,
        user_pool_id: get(env, "OIDC_PROXY_COGNITO_USER_POOL_ID") ?? "",
      }),
    optionVariables: { user_pool_id: "OIDC_PROXY_COGNITO_USER_POOL_ID" },
  },
}

function opt<K extends string, V>(key: K, value: V | undefined): { readonly [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { readonly [P in K]?: V }
}

/** The variable texts a fragment stands for. */
const textsOf = (fragment: Providers.Fragment): Record<string, string> => {
  const u = fragment.upstream
  const a = fragment.access ?? {}
  const texts: Record<string, string | undefined> = {
    OIDC_PROXY_UPSTREAM_ISSUER: u.issuer,
    OIDC_PROXY_UPSTREAM_ISSUER_TEMPLATE: u.issuer_template,
    OIDC_PROXY_VERIFY_ID_TOKEN: String(fragment.verification_mode === "id_token"),
    OIDC_PROXY_UPSTREAM_SCOPES: u.scopes.join(" "),
    OIDC_PROXY_UPSTREAM_EXTRA_PARAMS:
      u.extra_authorize_params === undefined
        ? undefined
        : new URLSearchParams(u.extra_authorize_params).toString(),
    OIDC_PROXY_UPSTREAM_AUDIENCE: u.audience,
    OIDC_PROXY_UPSTREAM_CHECK_CLIENT_ID: u.access_token_client_id === true ? "true" : undefined,
    OIDC_PROXY_ALLOWED_TENANTS: a.tenants?.join(" "),
    OIDC_PROXY_ALLOWED_HOSTED_DOMAINS: a.hosted_domains?.join(" "),
    OIDC_PROXY_ALLOWED_ORGS: a.organizations?.join(" "),
    OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: u.authorization_endpoint,
    OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: u.token_endpoint,
    OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT: u.userinfo_endpoint,
    OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: u.introspection_endpoint,
    OIDC_PROXY_UPSTREAM_REVOCATION_ENDPOINT: u.revocation_endpoint,
    OIDC_PROXY_UPSTREAM_VERIFICATION: u.verification,
    OIDC_PROXY_UPSTREAM_SUBJECT_CLAIM: u.subject_claim,
    OIDC_PROXY_UPSTREAM_SCOPES_HEADER: u.scopes_header,
    OIDC_PROXY_GITHUB_API_URL: u.github_api_url,
  }
  return Object.fromEntries(
    Object.entries(texts).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""),
  )
}

/**
 * What a preset contributes: texts by variable name, and one issue per problem (a missing or bad
 * provider variable, or one set for another preset), each naming the variable and the preset.
 *
 * @category models
 * @since 0.1.0
 */
export interface Contribution {
  readonly texts: Readonly<Record<string, string>>
  readonly issues: ReadonlyArray<string>
}

/**
 * The texts `provider` supplies for the environment `env`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const contribution = (provider: Providers.Name, env: Env): Contribution => {
  const tag = `OIDC_PROXY_PROVIDER=${provider}`
  const issues: Array<string> = []
  for (const [name, spec] of Object.entries(providerVariables))
    if (spec.preset !== provider && get(env, name) !== undefined)
      issues.push(`${name}: only read with OIDC_PROXY_PROVIDER=${spec.preset} (${tag})`)
  // The generic preset is the table's own defaults: nothing to fill in.
  if (provider === "oidc") return { texts: {}, issues }
  const preset = presets[provider]
  const required = typeof preset.required === "function" ? preset.required(env) : preset.required
  const missing = required.filter((name) => get(env, name) === undefined)
  for (const name of missing) issues.push(`${name}: required by ${tag}, not set`)
  if (missing.length > 0) return { texts: {}, issues }
  const issuer = get(env, "OIDC_PROXY_UPSTREAM_ISSUER")
  const clientId = get(env, "OIDC_PROXY_UPSTREAM_CLIENT_ID")
  const result = preset.run(env, { ...opt("issuer", issuer), ...opt("client_id", clientId) })
  if (Result.isFailure(result)) {
    const e = result.failure
    const name = preset.optionVariables[e.option] ?? `${e.option} option`
    issues.push(`${name}: ${e.description} (${tag})`)
    return { texts: {}, issues }
  }
  return { texts: textsOf(result.success), issues }
}

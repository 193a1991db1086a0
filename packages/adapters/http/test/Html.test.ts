/**
 * The consent page's wording of who is asking: a DCR client by its (self-chosen) name, a Client
 * ID Metadata Document client by its verified host, with the name only as that host's claim.
 */
import type { Outcome } from "@oidc-proxy/core"
import { describe, expect, it } from "vitest"
import { Html } from "../src/index.ts"

const view = (overrides: Partial<Outcome.ConsentView> = {}): Outcome.ConsentView => ({
  action: "https://proxy.test/consent",
  transaction: "t",
  csrf: "c",
  clientId: "abc",
  clientName: "Friendly <b>App</b>",
  clientUri: undefined,
  redirectUri: "https://app.example/cb",
  redirectHost: "app.example",
  scopes: ["openid"],
  formTargets: [],
  ...overrides,
})

describe("Html.consentPage", () => {
  it("consentPage - a DCR client is named by its own (escaped) name", () => {
    const html = Html.consentPage(view())
    expect(html).toContain("Authorize <strong>Friendly &#60;b&#62;App&#60;&#47;b&#62;</strong>?")
    expect(html).not.toContain('id="client-host"')
  })

  it("consentPage - a CIMD client is named by its verified host; its name is a claim of that host", () => {
    const html = Html.consentPage(
      view({
        clientId: "https://tools.example/client.json",
        clientHost: "tools.example",
        clientName: "Claude",
      }),
    )
    expect(html).toContain('<h1>Authorize <span class="host" id="client-host">tools.example</span>?</h1>')
    expect(html).toContain("tools.example calls this application <q>Claude</q>.")
    expect(html).not.toContain("<strong>Claude</strong>")
    expect(html).not.toContain("<img")
  })
})

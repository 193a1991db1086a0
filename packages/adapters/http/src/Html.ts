/**
 * Server-rendered pages: the consent page and the error page.
 *
 * Adapter (pure string rendering). Every interpolated value is HTML-escaped; the pages load
 * nothing (inline styles only, allowed by a per-response CSP), are never framed
 * (`frame-ancestors 'none'` and `X-Frame-Options: DENY`), and post only to this server.
 *
 * @since 0.1.0
 */
import type { Outcome } from "@oidc-proxy/core"

/**
 * @category utils
 * @since 0.1.0
 */
export const escapeHtml = (s: string): string => s.replace(/[&<>"'`=/]/g, (c) => `&#${c.charCodeAt(0)};`)

const style = `
  body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
  main{max-width:30rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px #0002}
  h1{font-size:1.3rem;margin:0 0 1rem}
  .host{font-family:ui-monospace,monospace;background:#eef1f6;padding:.1rem .4rem;border-radius:4px}
  ul{padding-left:1.2rem} li{font-family:ui-monospace,monospace}
  .warn{color:#6b4e00;background:#fff7e0;border-radius:6px;padding:.6rem .8rem;font-size:.9rem}
  .actions{display:flex;gap:.8rem;margin-top:1.5rem}
  button{flex:1;font-size:1rem;padding:.7rem;border-radius:8px;border:1px solid #c5cad3;background:#fff;cursor:pointer}
  button.primary{background:#1f5eff;border-color:#1f5eff;color:#fff}
  .error{color:#9b1c1c}
`

/**
 * The page's security headers; `formTargets` are the origins the consent form's redirects reach.
 *
 * @category utils
 * @since 0.1.0
 */
export const headers = (formTargets: ReadonlyArray<string> = []): Record<string, string> => ({
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "content-security-policy": [
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    `form-action 'self' ${formTargets.map((t) => t.replace(/[;,\s'"]/g, "")).join(" ")}`.trim(),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; "),
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
})

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${style}</style></head><body><main>${body}</main></body></html>`

/**
 * The consent page.
 *
 * @category constructors
 * @since 0.1.0
 */
export const consentPage = (view: Outcome.ConsentView): string => {
  const name = view.clientName ?? view.clientId
  const scopes =
    view.scopes.length === 0
      ? "<li>(no specific scopes)</li>"
      : view.scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join("")
  // A Client ID Metadata Document client is verified to be its URL's host; what it calls itself is
  // only that host's claim, so the host is the heading and the name is quoted as a claim.
  const heading =
    view.clientHost === undefined
      ? `<h1>Authorize <strong>${escapeHtml(name)}</strong>?</h1>`
      : `<h1>Authorize <span class="host" id="client-host">${escapeHtml(view.clientHost)}</span>?</h1>
<p id="client-claims">${
          view.clientName === undefined
            ? "This application is identified by its host only."
            : `${escapeHtml(view.clientHost)} calls this application <q>${escapeHtml(view.clientName)}</q>.`
        }</p>`
  return page(
    "Authorize access",
    `${heading}
<p>This application will receive access on your behalf and will be sent back to
<span class="host" id="redirect-host">${escapeHtml(view.redirectHost)}</span>.</p>
<p>Requested scopes:</p><ul id="scopes">${scopes}</ul>
<p class="warn">Only approve if you started this sign-in and you trust <span class="host">${escapeHtml(view.clientHost ?? view.redirectHost)}</span>.
${view.clientHost === undefined ? "The application's name is chosen by the application itself." : "The name (and any logo) are claims of that host, not checked by this server."}</p>
<form method="post" action="${escapeHtml(view.action)}">
<input type="hidden" name="transaction" value="${escapeHtml(view.transaction)}">
<input type="hidden" name="csrf" value="${escapeHtml(view.csrf)}">
<div class="actions">
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="approve" class="primary">Approve</button>
</div></form>`,
  )
}

/**
 * The error page shown when the client cannot safely be redirected to.
 *
 * @category constructors
 * @since 0.1.0
 */
export const errorPage = (error: string, description: string): string =>
  page(
    "Sign-in error",
    `<h1 class="error">Sign-in failed</h1><p><code>${escapeHtml(error)}</code></p><p>${escapeHtml(description)}</p>`,
  )

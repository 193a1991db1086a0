/**
 * Just enough HTML form handling for login and consent pages: find forms, collect their successful
 * controls, and serialize a submission (HTML §4.10.21, urlencoded only).
 *
 * Internal; regular expressions over server-rendered markup, not a general HTML parser.
 *
 * @since 0.1.0
 */

/** A submit button: pressing it adds `name=value` to the form data. */
export interface Submitter {
  readonly name: string
  readonly value: string
}

/** One `<form>` of a page. */
export interface HtmlForm {
  /** Position among the page's forms, from 0. */
  readonly index: number
  readonly id: string | undefined
  /** The resolved `action` (the page URL when absent or empty). */
  readonly action: URL
  readonly method: "GET" | "POST"
  /** Successful controls in document order, without submit buttons: hidden, text, checked boxes, selects… */
  readonly fields: ReadonlyArray<readonly [string, string]>
  /** Named submit buttons, with their visible text. */
  readonly submitters: ReadonlyArray<Submitter & { readonly label: string }>
}

/** What to submit; every member is optional. */
export interface FormSubmission {
  /** The form itself, its index, or a predicate; default: the first form. */
  readonly form?: HtmlForm | number | ((form: HtmlForm) => boolean)
  /** Values that replace same-named fields, or are added. */
  readonly fields?: Readonly<Record<string, string>>
  /** The button pressed; it must exist on the form. Default: the form's first named submit button, if any. */
  readonly submitter?: Submitter
}

const formPattern = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi
const controlPattern =
  /<input\b([^>]*)>|<button\b([^>]*)>([\s\S]*?)<\/button>|<select\b([^>]*)>([\s\S]*?)<\/select>|<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/gi
const attributePattern = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g

/** Parses every form of `html`, resolving actions against `baseUrl`. */
export const parseForms = (html: string, baseUrl: URL): ReadonlyArray<HtmlForm> =>
  Array.from(html.matchAll(formPattern), (match, index) => {
    const attributes = parseAttributes(match[1] ?? "")
    const action = attributes.get("action")
    const { fields, submitters } = parseControls(match[2] ?? "")
    return {
      index,
      id: attributes.get("id"),
      action: new URL(action === undefined || action === "" ? baseUrl.href : action, baseUrl),
      method: attributes.get("method")?.toUpperCase() === "POST" ? "POST" : "GET",
      fields,
      submitters,
    }
  })

const parseControls = (body: string) => {
  const fields: Array<readonly [string, string]> = []
  const submitters: Array<Submitter & { label: string }> = []
  for (const match of body.matchAll(controlPattern)) {
    const [, input, button, buttonBody, select, options, textarea, text] = match
    const attributes = parseAttributes(input ?? button ?? select ?? textarea ?? "")
    const name = attributes.get("name")
    if (attributes.has("disabled")) continue
    const value = attributes.get("value")
    const type = (attributes.get("type") ?? (button !== undefined ? "submit" : "text")).toLowerCase()
    if (button !== undefined || type === "submit" || type === "image") {
      if (type !== "submit" && type !== "image") continue
      if (name !== undefined && name !== "") {
        submitters.push({
          name,
          value: value ?? "",
          label: decodeEntities(stripTags(buttonBody ?? value ?? "")),
        })
      }
      continue
    }
    if (name === undefined || name === "") continue
    if (select !== undefined) fields.push([name, selectedOption(options ?? "")])
    else if (textarea !== undefined) fields.push([name, decodeEntities(text ?? "")])
    else if (type === "checkbox" || type === "radio") {
      if (attributes.has("checked")) fields.push([name, value ?? "on"])
    } else if (type !== "button" && type !== "reset" && type !== "file") fields.push([name, value ?? ""])
  }
  return { fields, submitters }
}

const selectedOption = (options: string): string => {
  const all = Array.from(options.matchAll(/<option\b([^>]*)>([^<]*)/gi), ([, attrs, label]) => {
    const attributes = parseAttributes(attrs ?? "")
    return {
      selected: attributes.has("selected"),
      value: attributes.get("value") ?? decodeEntities(label ?? "").trim(),
    }
  })
  return (all.find((option) => option.selected) ?? all[0])?.value ?? ""
}

const parseAttributes = (source: string): Map<string, string> => {
  const attributes = new Map<string, string>()
  for (const [, name, double, single, bare] of source.matchAll(attributePattern)) {
    if (name !== undefined) attributes.set(name.toLowerCase(), decodeEntities(double ?? single ?? bare ?? ""))
  }
  return attributes
}

const namedEntities: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
}

const decodeEntities = (text: string): string =>
  text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, code: string) => {
    if (code[0] === "#") {
      const point =
        code[1] === "x" || code[1] === "X" ? Number.parseInt(code.slice(2), 16) : Number(code.slice(1))
      return String.fromCodePoint(point)
    }
    return namedEntities[code.toLowerCase()] ?? entity
  })

const stripTags = (html: string): string => html.replace(/<[^>]*>/g, "").trim()

const pickForm = (forms: ReadonlyArray<HtmlForm>, selector: FormSubmission["form"]): HtmlForm => {
  const form =
    selector === undefined
      ? forms[0]
      : typeof selector === "number"
        ? forms[selector]
        : typeof selector === "function"
          ? forms.find(selector)
          : selector
  if (form === undefined) throw new Error(`HeadlessBrowser: no matching form among ${forms.length}`)
  return form
}

/** Turns a submission into the request a browser would send. Fails on a missing form or button. */
export const serializeForm = (
  forms: ReadonlyArray<HtmlForm>,
  submission: FormSubmission,
  pageUrl: URL,
): { readonly url: URL; readonly init: RequestInit } => {
  const form = pickForm(forms, submission.form)
  const overrides = Object.entries(submission.fields ?? {})
  const data = new URLSearchParams()
  for (const [name, value] of form.fields) {
    if (!overrides.some(([key]) => key === name)) data.append(name, value)
  }
  for (const [name, value] of overrides) data.append(name, value)
  const submitter = submission.submitter ?? form.submitters[0]
  if (
    submission.submitter !== undefined &&
    !form.submitters.some((s) => s.name === submitter?.name && s.value === submitter.value)
  ) {
    throw new Error(
      `HeadlessBrowser: form ${form.index} on ${pageUrl.pathname} has no button ${submitter?.name}`,
    )
  }
  if (submitter !== undefined) data.append(submitter.name, submitter.value)
  if (form.method === "GET") {
    const url = new URL(form.action)
    url.search = data.toString()
    return { url, init: { method: "GET" } }
  }
  return { url: form.action, init: { method: "POST", body: data } }
}

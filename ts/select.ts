import type { NativeMatcher, NativeSelector } from './native'
import { WarpError } from './errors'
import { describe } from './args'

/**
 * How a tag value is matched:
 * - `'host_3'`: equal; `['a', 'b']`: one of;
 * - `/^web-/`: a regular expression matching the whole value (Rust `regex` syntax, which
 *   is JavaScript's without lookaround or backreferences; flags `i`, `s` and `u` only);
 * - `{ not: … }`: any series the inner match does not select, those without the tag included
 *   (as Prometheus' `!=` and `!~`);
 * - `{ present: true }` / `{ present: false }`: has the tag / does not.
 */
export type TagMatch = string | string[] | RegExp | { not: string | string[] | RegExp } | { present: boolean }

/** A metric name, one of several, or a regular expression over names. */
export type MetricMatch = string | string[] | RegExp

/** Which series: a metric condition and tag conditions, all of which must hold. */
export interface Selection {
  metric?: MetricMatch
  where?: Record<string, TagMatch>
}

/** The native form of a selection; `INVALID_QUERY` naming the field for anything else. */
export function toSelector(selection: Selection): NativeSelector {
  // Own properties only: an inherited `where` (a polluted Object.prototype) selects nothing.
  const metric = Object.hasOwn(selection, 'metric') ? selection.metric : undefined
  const where = Object.hasOwn(selection, 'where') ? selection.where : undefined
  const selector: NativeSelector = { metric: undefined, tags: [] }
  if (metric !== undefined) selector.metric = matcher('', metric, false, 'metric')
  if (where === undefined) return selector
  if (where === null || typeof where !== 'object' || Array.isArray(where)) {
    throw invalid('where', `must be an object of tag matchers, not ${describe(where)}`)
  }
  for (const name of Object.keys(where)) {
    const field = `where.${name}`
    const m = (where as Record<string, unknown>)[name]
    if (isObject(m, 'not')) {
      selector.tags.push(matcher(name, m.not, true, `${field}.not`))
    } else if (isObject(m, 'present')) {
      if (typeof m.present !== 'boolean') throw invalid(`${field}.present`, `must be a boolean, not ${describe(m.present)}`)
      selector.tags.push({ name, op: 'present', values: [], negated: !m.present })
    } else {
      selector.tags.push(matcher(name, m, false, field))
    }
  }
  return selector
}

function matcher(name: string, m: unknown, negated: boolean, field: string): NativeMatcher {
  if (typeof m === 'string') return { name, op: 'equal', values: [m], negated }
  if (m instanceof RegExp) return { name, op: 'regex', values: [regexSource(m, field)], negated }
  if (Array.isArray(m)) {
    const bad = m.find((v) => typeof v !== 'string')
    if (bad !== undefined) throw invalid(field, `lists only strings, not ${describe(bad)}`)
    return { name, op: 'oneOf', values: [...m] as string[], negated }
  }
  throw invalid(field, `must be a string, a list of strings or a RegExp, not ${describe(m)}`)
}

/** A RegExp's source in the `regex` crate's syntax: its flags as inline flags. */
function regexSource(re: RegExp, field: string): string {
  const inline: Record<string, string> = { i: 'i', s: 's', u: '' }
  let flags = ''
  for (const f of re.flags) {
    if (!(f in inline)) throw invalid(field, `the RegExp flag '${f}' is not supported (only i, s and u)`)
    flags += inline[f]
  }
  return flags ? `(?${flags})${re.source}` : re.source
}

function isObject<K extends string>(v: unknown, key: K): v is Record<K, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegExp) && Object.hasOwn(v, key)
}

export function invalid(field: string, reason: string): WarpError {
  return new WarpError('INVALID_QUERY', `invalid query: ${field}: ${reason}`)
}

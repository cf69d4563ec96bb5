import type { NativeEngine, Tier } from './native'
import { WarpError, guard, guardAsync } from './errors'

/**
 * The rule files under `temporal/configuration/`. Each is validated when the database opens
 * and when changed at runtime; a bad file is `INVALID_CONFIG`, naming the file and field.
 */
export interface LifecycleRules {
  version: 1
  /** Seconds between background lifecycle passes; 0 turns them off (use `runLifecycle()`). */
  intervalSeconds: number
  tiers: {
    /** Live points older than this are sealed into hourly partitions. */
    live: { maxAgeHours: number }
    /** Hourly partitions whose entropy reaches the threshold at this age move to daily. */
    recent: { maxAgeHours: number }
    /** Daily partitions move to monthly at this (dilated) age. */
    historical: { maxAgeDays: number }
    /** Monthly partitions move to yearly at this (dilated) age. */
    monthly: { maxAgeDays: number }
  }
  entropy: {
    /** Half-life of the decayed access frequency. */
    accessHalfLifeHours: number
    /** Time dilation: each unit of decayed access frequency slows ageing by this factor. */
    dilationPerAccess: number
    /** A partition moves down a tier once its entropy reaches this. */
    threshold: number
  }
}

/** A storage tier below the live tier (declared by the engine). */
export type TierName = Tier

export interface CompressionRules {
  version: 1
  /** Whether each tier's blocks are LZ4-compressed on top of the column codecs. */
  lz4: Record<TierName, boolean>
}

export interface RetentionPolicies {
  version: 1
  /** Points older than this are gone (series no rule below names); null keeps everything. */
  maxAgeDays: number | null
  /**
   * Retention per metric: `metric` is a name where `*` stands for any run of characters; the
   * first rule that matches a series decides its age (null: kept forever). A rule can only
   * keep data longer from the moment it is added: nothing already expired comes back.
   */
  metrics?: Array<{ metric: string; maxAgeDays: number | null }>
  /** Retention of rollups' cells by rollup name, so they outlive the raw points they summarise. */
  rollups?: Record<string, number | null>
}

export interface Rules {
  lifecycle: LifecycleRules
  compression: CompressionRules
  retention: RetentionPolicies
}

export const DEFAULT_RULES: Rules = {
  lifecycle: {
    version: 1,
    intervalSeconds: 60,
    tiers: {
      live: { maxAgeHours: 1 },
      recent: { maxAgeHours: 48 },
      historical: { maxAgeDays: 30 },
      monthly: { maxAgeDays: 365 },
    },
    entropy: { accessHalfLifeHours: 24, dilationPerAccess: 0.1, threshold: 1 },
  },
  compression: { version: 1, lz4: { hourly: false, daily: true, monthly: true, yearly: true } },
  retention: { version: 1, maxAgeDays: null },
}

export const FILES: Record<keyof Rules, string> = {
  lifecycle: 'lifecycle_rules.json',
  compression: 'compression_rules.json',
  retention: 'retention_policies.json',
}

type Check = (value: unknown, field: string) => void

function fail(file: string, field: string, wanted: string, got: unknown): never {
  const shown = JSON.stringify(got) ?? String(got)
  throw new WarpError('INVALID_CONFIG', `${file}: ${field} must be ${wanted}, not ${shown}`)
}

/** A checker of `file` for `shape`: a tree of leaf checks. Only own properties count. */
function validator(file: string, shape: Record<string, unknown>): (value: unknown, prefix?: string) => void {
  const walk = (value: unknown, node: Record<string, unknown>, prefix: string): void => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(file, prefix || 'the file', 'an object', value)
    const obj = value as Record<string, unknown>
    for (const [key, child] of Object.entries(node)) {
      const field = prefix ? `${prefix}.${key}` : key
      const own = Object.hasOwn(obj, key) ? obj[key] : undefined
      if (typeof child === 'function') (child as Check)(own, field)
      else walk(own, child as Record<string, unknown>, field)
    }
    for (const key of Object.keys(obj)) {
      if (!Object.hasOwn(node, key)) fail(file, prefix ? `${prefix}.${key}` : key, 'absent (unknown field)', obj[key])
    }
  }
  return (value, prefix = '') => walk(value, shape, prefix)
}

/**
 * The largest ages the mechanisms can act on: 10,000 years, the whole storable range, keeps
 * every cutoff and retention horizon a safe integer.
 */
const MAX_DAYS = 3_660_000
const MAX_HOURS = MAX_DAYS * 24
/** `setInterval` takes at most 2^31 − 1 ms. */
const MAX_INTERVAL_SECONDS = 2_147_483
/** Entropy factors beyond this mean nothing more. */
const MAX_FACTOR = 1e6

function inRange(file: string, min: number, max: number, minIncluded: boolean): Check {
  const wanted = `a number ${minIncluded ? '≥' : '>'} ${min} and ≤ ${max}`
  return (v, f) => {
    const ok = typeof v === 'number' && (minIncluded ? v >= min : v > min) && v <= max
    if (!ok) fail(file, f, wanted, v)
  }
}

function bool(file: string): Check {
  return (v, f) => {
    if (typeof v !== 'boolean') fail(file, f, 'true or false', v)
  }
}

function versionOne(file: string): Check {
  return (v, f) => {
    if (v !== 1) fail(file, f, '1', v)
  }
}

const checks: Record<keyof Rules, (value: unknown) => void> = {
  lifecycle: (() => {
    const file = FILES.lifecycle
    const hours = inRange(file, 0, MAX_HOURS, false)
    const days = inRange(file, 0, MAX_DAYS, false)
    return validator(file, {
      version: versionOne(file),
      intervalSeconds: inRange(file, 0, MAX_INTERVAL_SECONDS, true),
      tiers: {
        live: { maxAgeHours: hours },
        recent: { maxAgeHours: hours },
        historical: { maxAgeDays: days },
        monthly: { maxAgeDays: days },
      },
      entropy: {
        accessHalfLifeHours: hours,
        dilationPerAccess: inRange(file, 0, MAX_FACTOR, true),
        threshold: inRange(file, 0, MAX_FACTOR, false),
      },
    })
  })(),
  compression: (() => {
    const file = FILES.compression
    const b = bool(file)
    return validator(file, { version: versionOne(file), lz4: { hourly: b, daily: b, monthly: b, yearly: b } })
  })(),
  retention: (() => {
    const file = FILES.retention
    const days = inRange(file, 0, MAX_DAYS, false)
    const age = (v: unknown, f: string) => {
      if (v !== null) days(v, f)
    }
    const pattern = (v: unknown, f: string) => {
      if (typeof v !== 'string' || v.length === 0 || v.length > 256 || /\p{Cc}/u.test(v)) fail(file, f, 'a metric name or pattern (1–256 characters, * for any run)', v)
    }
    return validator(file, {
      version: versionOne(file),
      maxAgeDays: age,
      metrics: (v: unknown, f: string) => {
        if (v === undefined) return
        if (!Array.isArray(v) || v.length > 200) fail(file, f, 'a list of at most 200 { metric, maxAgeDays } rules', v)
        v.forEach((rule, i) => validator(file, { metric: pattern, maxAgeDays: age })(rule, `${f}[${i}]`))
      },
      rollups: (v: unknown, f: string) => {
        if (v === undefined) return
        if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length > 50) fail(file, f, 'an object of at most 50 rollup names and ages', v)
        for (const [name, days] of Object.entries(v)) {
          if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) fail(file, `${f}.${name}`, 'a rollup name', name)
          age(days, `${f}.${name}`)
        }
      },
    })
  })(),
}

/** Throws `INVALID_CONFIG` unless `rules` is a complete, valid set. */
export function validateRules(rules: Rules): void {
  for (const key of Object.keys(FILES) as Array<keyof Rules>) checks[key](rules[key])
}

function text(content: unknown): string {
  return JSON.stringify(content, null, 2) + '\n'
}

/**
 * Reads and validates the rule files, writing the defaults of any that are missing. The files
 * are read and written by the engine, through its storage: atomically and durably.
 */
export async function loadRules(engine: NativeEngine): Promise<Rules> {
  const rules = structuredClone(DEFAULT_RULES)
  const stored = new Map(guard(() => engine.readRules()).map((f) => [f.name, f.text]))
  const missing: Array<{ name: string; text: string }> = []
  for (const key of Object.keys(FILES) as Array<keyof Rules>) {
    const content = stored.get(FILES[key])
    if (content === undefined) {
      missing.push({ name: FILES[key], text: text(rules[key]) })
      continue
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(content)
    } catch (e) {
      throw new WarpError('INVALID_CONFIG', `${FILES[key]}: not valid JSON (${(e as Error).message})`, { cause: e })
    }
    checks[key](parsed)
    ;(rules as unknown as Record<string, unknown>)[key] = parsed
  }
  if (missing.length > 0) await guardAsync(() => engine.writeRules(missing))
  return rules
}

/** Validates `rules` and writes each rule file. */
export async function storeRules(engine: NativeEngine, rules: Rules): Promise<void> {
  validateRules(rules)
  const files = (Object.keys(FILES) as Array<keyof Rules>).map((key) => ({ name: FILES[key], text: text(rules[key]) }))
  await guardAsync(() => engine.writeRules(files))
}

import { promises as fs } from 'node:fs'
import * as path from 'node:path'

/**
 * The rule files under `temporal/configuration/`, written with their defaults when a database
 * is created. They describe how data ages through the tiers (live → recent → historical →
 * monthly → yearly), how each tier is compressed, and how long data is kept.
 */
export const DEFAULT_CONFIGURATION: Record<string, unknown> = {
  'lifecycle_rules.json': {
    version: 1,
    tiers: {
      live: { maxAgeHours: 1 },
      recent: { maxAgeHours: 48, partition: 'hourly' },
      historical: { maxAgeDays: 30, partition: 'daily' },
      monthly: { maxAgeDays: 365 },
      yearly: {},
    },
    entropy: { accessHalfLifeHours: 24, dilationPerAccess: 0.1 },
  },
  'compression_rules.json': {
    version: 1,
    recent: { codec: 'auto' },
    historical: { codec: 'auto', lz4: true },
    archive: { codec: 'auto', lz4: true },
  },
  'retention_policies.json': {
    version: 1,
    default: { maxAgeDays: null },
    metrics: {},
  },
}

/** Writes each missing rule file atomically (temp file, fsync, rename, directory fsync). */
export async function writeDefaultConfiguration(root: string): Promise<void> {
  const dir = path.join(root, 'temporal', 'configuration')
  let wrote = false
  for (const [name, content] of Object.entries(DEFAULT_CONFIGURATION)) {
    const target = path.join(dir, name)
    if (await exists(target)) continue
    const tmp = `${target}.tmp`
    const handle = await fs.open(tmp, 'w')
    try {
      await handle.writeFile(JSON.stringify(content, null, 2) + '\n')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(tmp, target)
    wrote = true
  }
  if (wrote && process.platform !== 'win32') {
    const d = await fs.open(dir, 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p)
    return true
  } catch {
    return false
  }
}

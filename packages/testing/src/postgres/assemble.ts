import type { Sql } from 'postgres'
import { adminHelpers } from './admin.ts'
import { adminApplicationName, connect, connectionInfo, type ServerTarget } from './connection.ts'
import type { PostgresCluster, StartPostgresOptions } from './types.ts'

export interface ServerControl {
  pid: number | undefined
  pause(): Promise<void>
  resume(): Promise<void>
  /** Stops the server itself (after the handles are ended). */
  stop(): Promise<void>
}

/** A control for a server this process may not signal: pause/resume throw `reason`, stop ends only handles. */
export function noControl(reason: string): ServerControl {
  return {
    pid: undefined,
    pause: () => Promise.reject(new Error(`pause(): ${reason}`)),
    resume: () => Promise.reject(new Error(`resume(): ${reason}`)),
    stop: async () => {},
  }
}

/**
 * The PostgresCluster object around a reachable server: connection info, the admin handle (one connection,
 * so "its own session" is one PID the helpers can skip), the admin helpers, and `control` for the process.
 */
export async function assembleCluster(args: {
  target: ServerTarget
  ca: string | undefined
  external: boolean
  control: ServerControl
  dir?: string
}): Promise<PostgresCluster> {
  const { target, control } = args
  const handles = new Set<Sql>()
  const sql = connect(target, target.database, {
    max: 1,
    connection: { application_name: adminApplicationName },
  })
  let version: number
  try {
    const [row] = await sql`select current_setting('server_version_num')::int as num`
    version = Math.floor(Number(row?.num) / 10_000)
  } catch (error) {
    await sql.end({ timeout: 0 })
    const { code, message } = (error ?? {}) as { code?: string; message?: string }
    throw Object.assign(
      new Error(
        `cannot reach PostgreSQL at ${target.host}:${target.port} as ${target.user}: ${message ?? error}${code ? ` (SQLSTATE ${code})` : ''}`,
      ),
      { code },
    )
  }
  let stopping: Promise<void> | undefined
  let paused = false
  return {
    ...connectionInfo(target),
    version,
    ca: args.ca,
    pid: control.pid,
    external: args.external,
    ...(args.dir ? { dir: args.dir } : {}),
    sql,
    ...adminHelpers(target, sql, handles),
    async pause() {
      await control.pause()
      paused = true
    },
    async resume() {
      await control.resume()
      paused = false
    },
    stop() {
      stopping ??= (async () => {
        if (paused) await control.resume().catch(() => {})
        await Promise.allSettled([sql, ...handles].map((handle) => handle.end({ timeout: 0 })))
        handles.clear()
        await control.stop()
      })()
      return stopping
    },
  }
}

/** The `roles` option; on failure the cluster is stopped (its handles closed) before the error propagates. */
export async function createRoles(cluster: PostgresCluster, options: StartPostgresOptions): Promise<void> {
  try {
    for (const role of options.roles ?? []) await cluster.createRole(role)
  } catch (error) {
    await cluster.stop()
    throw error
  }
}

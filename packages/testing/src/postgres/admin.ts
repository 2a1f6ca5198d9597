import { randomBytes } from 'node:crypto'
import type { Sql } from 'postgres'
import { adminApplicationName, connect, connectionInfo, type ServerTarget } from './connection.ts'
import { passwordClause, quoteIdent } from './sql-text.ts'
import type { PostgresCluster, RoleSpec, Session, SessionFilter, TestDatabase } from './types.ts'

export type AdminHelpers = Pick<
  PostgresCluster,
  'createDatabase' | 'createRole' | 'setPassword' | 'sessions' | 'terminate'
>

interface PgError {
  code?: string
  message?: string
}

/** Rethrows a server error with what was attempted and the SQLSTATE, without the statement (it holds a verifier). */
function describe(action: string, error: unknown): Error {
  const { code, message } = (error ?? {}) as PgError
  const wrapped = new Error(
    `${action} failed: ${message ?? String(error)}${code ? ` (SQLSTATE ${code})` : ''}`,
  )
  Object.assign(wrapped, { code })
  return wrapped
}

/**
 * The admin helpers of a cluster, on its admin handle `sql`. `handles` collects the postgres.js handles they
 * open, so stop() can end them.
 */
export function adminHelpers(target: ServerTarget, sql: Sql, handles: Set<Sql>): AdminHelpers {
  const clientSessions = (filter: SessionFilter) => sql`
    select pid, usename, datname, application_name, state, backend_type, query
    from pg_stat_activity
    where backend_type = 'client backend'
      and pid <> pg_backend_pid()
      and application_name <> ${adminApplicationName}
      and (${filter.user ?? null}::text is null or usename = ${filter.user ?? null})
      and (${filter.database ?? null}::text is null or datname = ${filter.database ?? null})
      and (${filter.applicationName ?? null}::text is null or application_name = ${filter.applicationName ?? null})
    order by pid`

  const terminateWhere = async (filter: SessionFilter): Promise<number> => {
    const rows = await clientSessions(filter)
    let count = 0
    for (const row of rows) {
      const [result] = await sql`select pg_terminate_backend(${row.pid}::int) as ok`
      if (result?.ok) count++
    }
    return count
  }

  return {
    async createDatabase(name = `rdskit_${randomBytes(5).toString('hex')}`) {
      const ident = quoteIdent(name, 'database name')
      try {
        await sql.unsafe(`create database ${ident}`)
      } catch (error) {
        throw describe(`createDatabase(${JSON.stringify(name)})`, error)
      }
      const handle = connect(target, name, { connection: { application_name: 'rdskit-testing' } })
      handles.add(handle)
      let dropped: Promise<void> | undefined
      const database: TestDatabase = {
        ...connectionInfo(target, name),
        sql: handle,
        drop() {
          dropped ??= (async () => {
            handles.delete(handle)
            await handle.end({ timeout: 1 })
            await terminateWhere({ database: name })
            await sql.unsafe(`drop database if exists ${ident} with (force)`)
          })()
          return dropped
        },
      }
      return database
    },

    async createRole(role: RoleSpec) {
      if (!role || typeof role !== 'object')
        throw new TypeError('createRole: role must be { name, password }')
      const ident = quoteIdent(role.name, 'role name')
      const attributes = [
        'login',
        role.superuser ? 'superuser' : 'nosuperuser',
        role.createdb ? 'createdb' : 'nocreatedb',
        passwordClause(role.password, role.validUntil),
      ].join(' ')
      try {
        const [exists] = await sql`select 1 from pg_roles where rolname = ${role.name}`
        await sql.unsafe(`${exists ? 'alter' : 'create'} role ${ident} ${attributes}`)
      } catch (error) {
        throw describe(`createRole(${JSON.stringify(role.name)})`, error)
      }
    },

    async setPassword(role: string, password: string, validUntil?: Date) {
      const statement = `alter role ${quoteIdent(role, 'role name')} ${passwordClause(password, validUntil)}`
      try {
        await sql.unsafe(statement)
      } catch (error) {
        throw describe(`setPassword(${JSON.stringify(role)})`, error)
      }
    },

    async sessions(filter: SessionFilter = {}): Promise<Session[]> {
      const rows = await clientSessions(filter)
      return rows.map((row) => ({
        pid: row.pid,
        user: row.usename,
        database: row.datname,
        applicationName: row.application_name ?? '',
        state: row.state,
        backendType: row.backend_type,
        query: row.query ?? '',
      }))
    },

    async terminate(targetSession: number | SessionFilter): Promise<number> {
      if (typeof targetSession === 'number') {
        if (!Number.isInteger(targetSession) || targetSession <= 0) {
          throw new TypeError(`terminate: ${targetSession} is not a backend PID`)
        }
        const [own] = await sql`select pg_backend_pid() as pid`
        if (own?.pid === targetSession) {
          throw new Error(`terminate: ${targetSession} is the admin handle's own session`)
        }
        const [result] = await sql`select pg_terminate_backend(${targetSession}::int) as ok`
        return result?.ok ? 1 : 0
      }
      return terminateWhere(targetSession ?? {})
    },
  }
}

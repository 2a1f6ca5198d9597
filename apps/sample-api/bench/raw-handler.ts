import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import postgres, { type Sql } from 'postgres'

/**
 * The baseline a user would write without Middy or rdskit: one module-scope postgres.js client with the
 * password in plain text in the environment, hand-rolled parsing, the same two queries as the full stack.
 * One connection, as in one Lambda container (the full stack's rds() default too), verified TLS as the
 * full stack uses (the CA from DB_CA_FILE; the runtime's RDS bundle in Lambda). `socket` is postgres.js's
 * (untyped) option to open the connection's socket yourself.
 */
export const connect = (password: string | undefined, socket?: () => Promise<Socket>) =>
  postgres({
    ...((socket ? { socket } : {}) as object),
    // Without DB_CA_FILE: Node's store plus NODE_EXTRA_CA_CERTS (the CDK stack points it at the RDS bundle).
    ssl: process.env.DB_CA_FILE ? { ca: readFileSync(process.env.DB_CA_FILE, 'utf8') } : 'verify-full',
    host: process.env.DB_HOST,
    port: Number(process.env.DB_PORT),
    database: process.env.DB_NAME,
    username: process.env.DB_USER,
    password,
    max: 1,
  })

export interface Event {
  rawPath: string
  body?: string
  requestContext: { http: { method: string } }
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const reply = (statusCode: number, body: unknown) => ({
  statusCode,
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
})

/** The two routes over whatever client `getSql` gives (the KMS variant decrypts before the first one). */
export const routes = (getSql: () => Sql | Promise<Sql>) => async (event: Event) => {
  const sql = await getSql()
  const method = event.requestContext.http.method
  if (method === 'GET' && event.rawPath.startsWith('/notes/')) {
    const id = event.rawPath.slice('/notes/'.length)
    if (!uuid.test(id)) return reply(400, { message: 'bad id' })
    const [note] = await sql`select * from notes where id = ${id}`
    return note ? reply(200, note) : reply(404, { message: 'not found' })
  }
  if (method === 'POST' && event.rawPath === '/notes') {
    let input: { title?: unknown; body?: unknown; tags?: unknown }
    try {
      input = JSON.parse(event.body ?? '')
    } catch {
      return reply(400, { message: 'bad json' })
    }
    if (typeof input.title !== 'string' || input.title.trim() === '') return reply(422, { message: 'title' })
    const [note] = await sql`
      insert into notes (title, body, tags)
      values (${input.title.trim()}, ${typeof input.body === 'string' ? input.body : ''}, ${Array.isArray(input.tags) ? (input.tags as string[]) : []})
      returning *`
    return reply(201, note)
  }
  return reply(404, { message: 'no route' })
}

const sql = connect(process.env.DB_PASSWORD_PLAINTEXT)
export const handler = routes(() => sql)

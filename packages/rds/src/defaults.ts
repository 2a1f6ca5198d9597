/**
 * Every option of `rds()` with its default. Each comment gives the type, the default, what it does and,
 * for values tuned for Lambda, why. This object is the reference documentation of the options.
 */
export const defaults = {
  /**
   * `Record<string, unknown> | undefined`, default `undefined`. The drizzle schema module (`import * as schema`);
   * types `context.db` as `PostgresJsDatabase<typeof schema>` and enables `db.query.<table>` relational queries.
   */
  schema: undefined,
  /**
   * `postgres.Options`, default below. Any postgres.js option (host, port, database, username, password, …);
   * the keys listed here are the Lambda-tuned defaults, merged under what you pass.
   */
  config: {
    /**
     * `number`, default `1`. Connections per container. A Lambda container runs one invocation at a time, so a
     * second connection would only hold a server slot; with Lambda Managed Instances
     * (`AWS_LAMBDA_MAX_CONCURRENCY` set) the pool follows that value, bounded by `maxPoolSize`, unless you set `max`.
     */
    max: 1,
    /**
     * `number` (seconds), default `300`. Close a connection idle this long. Below the 350 s idle timeout of NAT
     * gateways and NLBs and RDS Proxy's 1800 s, so the client ends the session cleanly instead of finding it dead,
     * and containers Lambda keeps warm but unused stop holding server slots.
     */
    idle_timeout: 300,
    /**
     * `number` (seconds), default `1800`. Replace a connection after this age. IAM tokens are checked only at
     * connect, so a long-lived session never re-proves access; recycling also rebalances after failover.
     */
    max_lifetime: 1800,
    /**
     * `number` (seconds), default `20`. Upper bound for opening a connection (TCP, TLS, authentication). Long enough
     * for Aurora Serverless v2 to resume from zero capacity (~15 s); each attempt is further bounded by the
     * remaining invocation time minus `timeoutMargin`.
     */
    connect_timeout: 20,
    /**
     * `boolean`, default `true`. Named prepared statements: parsed once per connection, then reused, which suits one
     * long-lived connection. Forced to `false` by `pooler: true` (a transaction pooler hands each transaction to
     * another server connection, where the statement does not exist).
     */
    prepare: true,
    /**
     * `(notice) => void`, default `() => {}`. Server NOTICEs (`relation … already exists, skipping`) are dropped:
     * postgres.js would print each with `console.log`, an unstructured object in the function's log. Pass a
     * function to send them to your logger.
     */
    onnotice: (_notice: unknown) => {},
  },
  /**
   * `string | { host, port? } | undefined`, default `undefined`. A reader endpoint (Aurora's `-ro-` cluster endpoint,
   * an RDS read replica): `context.db` becomes drizzle's `withReplicas`, with selects and relational queries on the
   * reader and writes, `execute` and transactions on the writer (`config.host`); `context.db.$primary` reads from
   * the writer (read-your-writes: replicas lag). Its own connection per container with the writer's credentials
   * (an IAM token signed for the reader host), TLS verified against the reader host, and the same deadline and
   * liveness. A read the reader cannot serve (down, restarting, connection lost) runs on the writer instead, within
   * the same budget, and the reader is left alone for 1 s, doubling to 30 s while it keeps failing. `port` defaults
   * to the writer's.
   */
  reader: undefined,
  /** `string`, default `'db'`. The `context` property that receives the drizzle instance. */
  contextKey: 'db',
  /**
   * `Record<configField, internalKey> | undefined`, default `undefined`. Config fields read from Middy's
   * `request.internal` each invocation, e.g. `{ password: 'dbPassword' }` after `kmsEnv()` or
   * `{ password: 'db.password', username: 'db.username' }` for a JSON secret from `@middy/secrets-manager`
   * (dotted paths as `getInternal` resolves them). A changed host, port, database or user rebuilds the client;
   * a changed password is used by the next physical connection.
   */
  internalData: undefined,
  /**
   * `{ cacheKey: string, middleware?: MiddlewareObj } | undefined`, default `undefined`. Where the `internalData`
   * values come from, so a rejected password (SQLSTATE 28P01) can be re-fetched once: rds drops those keys from
   * that middleware's `@middy/util` cache entry (`modifyCache`), then re-runs `middleware.before` (when given) so
   * the fresh value arrives within this invocation; without `middleware` the next invocation fetches it.
   */
  credentialSource: undefined,
  /**
   * `boolean | { region?, hostname?, port?, username? }`, default `false`. IAM database authentication: a token from
   * `@aws-sdk/rds-signer` for every physical connection (tokens live 15 minutes and are only checked at connect,
   * so a warm container keeps connecting). Missing fields come from `config` and `AWS_REGION`.
   */
  iamAuth: false,
  /**
   * `'verify-full' | { ca, servername? } | 'require' | false`, default `'verify-full'`. Certificate and host name
   * verified; in Lambda without `ca` the runtime's RDS bundle `/var/runtime/ca-cert.pem` plus the default store
   * (RDS Proxy presents public certificates). `servername` verifies against another name (SSH tunnels) — explicit
   * only. `'require'` encrypts without verifying and logs a warning; `false` sends the password in clear text.
   * When unset, a postgres.js `config.ssl` keeps its meaning (verification stays on unless it turns it off).
   */
  tls: 'verify-full',
  /**
   * `boolean`, default `false`. Set behind RDS Proxy or PgBouncer in transaction mode: no named prepared statements
   * (`prepare: false`) and no session state (no `statement_timeout` startup parameter or `SET`); the client deadline
   * still bounds each statement. Set the role's statement_timeout server-side instead.
   */
  pooler: false,
  /**
   * `number | false | undefined` (milliseconds), default `undefined`: the invocation's remaining time minus twice
   * `timeoutMargin`, sent as a startup parameter (and re-set only when a warm connection's value is too long), so
   * the server cancels a statement before the function dies. A number fixes it; `false` leaves the server's setting.
   */
  statementTimeout: undefined,
  /**
   * `number` (milliseconds), default `500`. Time kept back from `context.getRemainingTimeInMillis()`: the client
   * deadline (connect attempts, stalled sockets, backoff) is remaining − margin, the statement timeout remaining −
   * 2 × margin, leaving the handler time to answer (e.g. a 503) before Lambda kills it.
   */
  timeoutMargin: 500,
  /**
   * `number`, default `10`. Upper bound of the pool when it follows `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda Managed
   * Instances), so a large per-instance concurrency cannot exhaust the server's `max_connections`.
   */
  maxPoolSize: 10,
  /**
   * `number` (milliseconds), default `60000`. A connection idle (frozen) longer than this is pinged with `select 1`
   * before the handler runs, catching peers that vanished without a FIN or RST (NAT timeouts, failover); shorter
   * idles rely on the close that the server sent being processed first, which costs no round trip.
   */
  pingAfterIdle: 60_000,
  /**
   * `number` (milliseconds), default `2000`. How long that ping may take before the socket is treated as dead,
   * destroyed and replaced by a new connection within the same invocation.
   */
  pingTimeout: 2_000,
  /**
   * `boolean`, default `true`. Re-run a read-only statement (SELECT, SHOW, VALUES, TABLE without locking clauses or
   * data-modifying CTEs) once when its connection dropped mid-flight. Writes are never re-run.
   */
  retryReadOnly: true,
  /**
   * `number` (milliseconds), default `50`. Base of the full-jitter exponential backoff on SQLSTATE 53300 and on
   * refused connections: each wait is random in [0, min(backoffCap, backoffBase × 2^attempt)], within the deadline.
   */
  backoffBase: 50,
  /** `number` (milliseconds), default `1000`. Longest single backoff wait. */
  backoffCap: 1_000,
  /**
   * `string`, default `'@rdskit/rds'`. Middy cache key of the client: middlewares with the same key share one
   * client per container; `clearCache(cacheKey)` from `@middy/util` makes the next invocation rebuild it (the old
   * one is ended).
   */
  cacheKey: '@rdskit/rds',
  /**
   * `boolean`, default `false`. Build the client at the first invocation instead of at module load. Building never
   * connects; the connection is opened by the first invocation either way.
   */
  disablePrefetch: false,
  /**
   * `{ logger?, casing? }`, default `{}`. Options passed to drizzle() besides `schema`; a logger sees SQL text and
   * parameters, so never enable it where parameters are secret.
   */
  drizzle: {},
  /**
   * `{ warn(message: string): void }`, default `console`. Receives the warnings (`tls: 'require'`, `tls: false`);
   * never receives a secret.
   */
  logger: console,
}

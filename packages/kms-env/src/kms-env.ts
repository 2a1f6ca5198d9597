import type { KMSClient } from '@aws-sdk/client-kms'
import type { MiddlewareObj, Request } from '@middy/core'
import {
  canPrefetch,
  createClient,
  createPrefetchClient,
  getCache,
  modifyCache,
  processCache,
  sanitizeKey,
} from '@middy/util'
import { Budget } from './budget.ts'
import { createDecrypt, settleAll } from './decrypt.ts'
import { traceDecrypt } from './events.ts'
import { resolveOptions } from './options.ts'
import { type KeyPlan, planKeys } from './plan.ts'
import type { DecryptedValues, KmsEnvContext, KmsEnvOptions } from './types.ts'

/** The middleware as Middy sees it: it adds the decrypted values to `internal` (and `context`). */
export type KmsEnvMiddleware<TOptions> = MiddlewareObj<
  unknown,
  unknown,
  Error,
  KmsEnvContext<TOptions>,
  DecryptedValues<TOptions>
>

type Values = Record<string, Promise<unknown> | undefined>
type AnyRequest = Request<unknown, unknown, Error, Request['context'], Record<string, unknown>>

/**
 * Middy middleware that decrypts KMS-encrypted environment variables (the Lambda console's encryption
 * helpers pattern) once per container, all in parallel, with the encryption context and an optional key pin.
 * Options: see `defaults`. Values land in `request.internal` (and `context` with `setToContext`).
 */
export function kmsEnv<const TOptions extends KmsEnvOptions = KmsEnvOptions>(
  opts?: TOptions,
): KmsEnvMiddleware<TOptions> {
  const options = resolveOptions(opts, 'kmsEnv')
  // @middy/util's option type wants a client constructor with an optional config; KMSClient's is stricter.
  const util = options as unknown as Parameters<typeof processCache>[0]
  const plans = planKeys(options)
  const decrypt = createDecrypt(options, process.env, options.connectWatch)
  const contextKeys = options.setToContext
    ? plans.map((plan) => [plan.key, sanitizeKey(plan.key)] as const)
    : null
  // Resolved values by promise, so a warm invocation copies values without awaiting anything.
  const settled = new WeakMap<Promise<unknown>, unknown>()
  // The budget of each Decrypt in flight, so an invocation waiting for it can bring its deadline forward.
  const budgets = new WeakMap<Promise<unknown>, Budget>()
  let client: KMSClient | undefined
  let clientInit: Promise<KMSClient> | undefined

  // Drops a failed key from the cache (only if it still holds that attempt) so the next invocation
  // retries it; the keys that succeeded stay cached.
  const evict = (key: string, attempt: Promise<unknown>) => {
    const cached = getCache(options.cacheKey) as { value?: Values }
    if (cached.value?.[key] !== attempt) return
    cached.value[key] = undefined
    modifyCache(options.cacheKey, cached.value)
  }

  // Middy calls this at INIT, in an invocation, and from its refresh timer (with a stale request): every
  // Decrypt starts with `timeout`; an invocation waiting for it brings the deadline forward (awaitPending).
  const fetchRequest = (_request: unknown, cached?: unknown): Values => {
    const cachedValues = (cached ?? {}) as Values
    const values: Values = {}
    const pending = plans.filter((plan) => !cachedValues[plan.key])
    const started = pending.map(() => new Budget(options.timeout))
    const attempts = traceDecrypt(pending, () =>
      pending.map((plan, i) => decrypt(client as KMSClient, plan, started[i] as Budget)),
    )
    pending.forEach((plan, i) => {
      const attempt = attempts[i] as Promise<unknown>
      const budget = started[i] as Budget
      budgets.set(attempt, budget)
      attempt.then(
        (value) => {
          budget.done()
          settled.set(attempt, value)
        },
        () => {
          budget.done()
          evict(plan.key, attempt)
        },
      )
      values[plan.key] = attempt
    })
    return values
  }

  // The invocation's own deadline (a performance.now() time): its remaining time minus the margin.
  const deadlineOf = (request: AnyRequest): number | undefined => {
    const remaining = request.context?.getRemainingTimeInMillis?.()
    return typeof remaining === 'number' ? performance.now() + remaining - options.timeoutMargin : undefined
  }

  // canPrefetch looks at cacheExpiry only; a cacheKeyExpiry of 0 for this key must not prefetch either
  // (the prefetched value would be thrown away by the first invocation).
  const expiry = options.cacheKeyExpiry[options.cacheKey] ?? options.cacheExpiry
  if (canPrefetch({ ...util, cacheExpiry: expiry })) {
    client = createPrefetchClient(util) as KMSClient
    processCache(util, fetchRequest)
  }

  const awaitPending = async (request: AnyRequest, pending: KeyPlan[], value: Values) => {
    const deadline = deadlineOf(request)
    if (deadline !== undefined) {
      for (const plan of pending) budgets.get(value[plan.key] as Promise<unknown>)?.tighten(deadline)
    }
    const internal = request.internal
    const resolved = await settleAll(
      pending,
      pending.map((plan) => value[plan.key] as Promise<unknown>),
    )
    pending.forEach((plan, i) => {
      internal[plan.key] = resolved[i]
    })
  }

  const kmsEnvMiddlewareBefore = async (request: AnyRequest): Promise<void> => {
    if (!client) {
      clientInit ??= createClient(util, request as never) as Promise<KMSClient>
      client = await clientInit
    }
    const { value } = processCache(util, fetchRequest, request as never) as { value: Values }
    const internal = request.internal
    const pending: KeyPlan[] = []
    for (const plan of plans) {
      const attempt = value[plan.key]
      if (attempt && settled.has(attempt)) internal[plan.key] = settled.get(attempt)
      else pending.push(plan)
    }
    if (pending.length > 0) await awaitPending(request, pending, value)
    if (contextKeys) {
      const context = request.context as unknown as Record<string, unknown>
      for (const [key, contextKey] of contextKeys) context[contextKey] = internal[key]
    }
  }

  return { before: kmsEnvMiddlewareBefore } as KmsEnvMiddleware<TOptions>
}

export default kmsEnv

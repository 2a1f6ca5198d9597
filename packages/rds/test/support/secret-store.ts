import type { MiddlewareObj } from '@middy/core'
import { processCache } from '@middy/util'
import type { RdsOptions } from '../../src/index.ts'
import { uniqueKey } from '../helpers.ts'

/**
 * A credential middleware shaped like @middy/secrets-manager: a processCache entry of promises under
 * `dbPassword`, fetched again only once rds cleared it (after a 28P01). `state.password` is what the next
 * fetch returns; `state.fetches` counts them. `rdsOptions` are the rds options that take the password from
 * it: use the middleware before rds.
 */
export function secretStore(initial: string) {
  const state = { password: initial, fetches: 0 }
  const cacheKey = uniqueKey('secrets')
  const fetch = (_request: unknown, cached: Record<string, unknown> = {}) => {
    if (cached.dbPassword) return {}
    state.fetches++
    return { dbPassword: Promise.resolve(state.password) }
  }
  const middleware: MiddlewareObj = {
    before: async (request) => {
      const { value } = processCache({ cacheKey, cacheExpiry: -1 }, fetch as never, request as never)
      Object.assign(request.internal, value)
    },
  }
  const rdsOptions = {
    internalData: { password: 'dbPassword' },
    credentialSource: { cacheKey, middleware },
  } satisfies RdsOptions
  return { state, cacheKey, middleware, rdsOptions }
}

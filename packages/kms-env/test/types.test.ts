// Type tests: the assertions are checked by `tsc` (pnpm typecheck); at run time they are no-ops.
import middy from '@middy/core'
import { getInternal } from '@middy/util'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type DecryptedValues,
  decryptEnv,
  type KmsEnvError,
  type KmsEnvErrorCode,
  type KmsEnvOptions,
  kmsEnv,
} from '../src/index.ts'

// Built lazily: building runs the validation, and these tests only care about the types.
const never = false

describe('kmsEnv types', () => {
  it('types context from fetchData when setToContext is true', () => {
    if (never) {
      middy()
        .use(
          kmsEnv({
            fetchData: { dbPassword: 'DB_PASSWORD', config: { variable: 'CONFIG', json: true } },
            setToContext: true,
          }),
        )
        .handler(async (_event, context) => {
          expectTypeOf(context.dbPassword).toEqualTypeOf<string>()
          expectTypeOf(context.config).toEqualTypeOf<unknown>()
          expectTypeOf(context.functionName).toEqualTypeOf<string>()
        })
    }
  })

  it('does not add the values to context without setToContext', () => {
    if (never) {
      middy()
        .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
        .handler(async (_event, context) => {
          // @ts-expect-error dbPassword is only on request.internal
          context.dbPassword
        })
    }
  })

  it('types getInternal keys from fetchData', () => {
    if (never) {
      middy()
        .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD', settings: 'SETTINGS' }, json: ['settings'] }))
        .before(async (request) => {
          const { dbPassword, settings } = await getInternal(['dbPassword', 'settings'], request)
          expectTypeOf(dbPassword).toEqualTypeOf<string>()
          expectTypeOf(settings).toEqualTypeOf<unknown>()
          const renamed = await getInternal({ password: 'dbPassword' }, request)
          expectTypeOf(renamed).toEqualTypeOf<{ password: string }>()
        })
    }
  })

  it('maps json: true, a json list and per-key json to unknown, everything else to string', () => {
    type All = DecryptedValues<{ fetchData: { a: 'A'; b: 'B' }; json: true }>
    expectTypeOf<All>().toEqualTypeOf<{ a: unknown; b: unknown }>()
    type Listed = DecryptedValues<{ fetchData: { a: 'A'; b: 'B' }; json: readonly ['b'] }>
    expectTypeOf<Listed>().toEqualTypeOf<{ a: string; b: unknown }>()
    type PerKey = DecryptedValues<{ fetchData: { a: { variable: 'A'; json: false }; b: 'B' }; json: true }>
    expectTypeOf<PerKey>().toEqualTypeOf<{ a: string; b: unknown }>()
  })

  it('refuses unknown options and wrong option types at compile time', () => {
    if (never) {
      // @ts-expect-error fetchdata is not an option
      kmsEnv({ fetchdata: {} })
      // @ts-expect-error encryptionContext is an object or false
      kmsEnv({ fetchData: {}, encryptionContext: 'orders-api' })
      // @ts-expect-error a per-key spec needs its variable
      kmsEnv({ fetchData: { a: { keyId: 'alias/x' } } })
    }
    expectTypeOf<KmsEnvOptions['cacheExpiry']>().toEqualTypeOf<number | undefined>()
  })
})

describe('decryptEnv and KmsEnvError types', () => {
  it('resolves to the fetchData keys', () => {
    if (never) {
      const values = decryptEnv({
        fetchData: { dbPassword: 'DB_PASSWORD', cfg: { variable: 'CFG', json: true } },
      })
      expectTypeOf(values).resolves.toEqualTypeOf<{ dbPassword: string; cfg: unknown }>()
    }
  })

  it('has a code union and the variable, key and KMS error name', () => {
    expectTypeOf<KmsEnvError['code']>().toEqualTypeOf<KmsEnvErrorCode>()
    expectTypeOf<'DECRYPT_FAILED'>().toExtend<KmsEnvErrorCode>()
    expectTypeOf<KmsEnvError['variable']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<KmsEnvError['kmsError']>().toEqualTypeOf<string | undefined>()
  })
})

import { afterEach, describe, expect, it, vi } from 'vitest'
import { iamPasswordFunction } from '../../src/iam.ts'

afterEach(() => vi.unstubAllEnvs())

describe('iamAuth', () => {
  it('signs an rds-db:connect token for the host, port and user, a new one each call', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAIOSFODNN7EXAMPLE')
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')
    const password = iamPasswordFunction(
      true,
      { host: 'db.example.com', port: 5432, user: 'app' },
      { AWS_REGION: 'eu-west-1' },
    )
    const token = await password()
    expect(token).toMatch(/^db\.example\.com:5432\/\?Action=connect&DBUser=app&/)
    expect(token).toContain('X-Amz-Signature=')
    expect(token).toContain('eu-west-1%2Frds-db')
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    expect(await password()).not.toBe(token)
  })

  it('names the missing region', () => {
    expect(() => iamPasswordFunction(true, { host: 'h', port: 1, user: 'u' }, {})).toThrow(/region/)
  })
})

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundle (an esbuild alias, see
 * infra/bundling.ts). Lambda hands a function its role's credentials in AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, so the default chain's other links (SSO, INI files,
 * process, web identity, IMDS/ECS, and the STS/SSO clients they pull in) are ~100 KB of dead code in a
 * function. Running the source outside Lambda (pnpm start, tests) keeps the full chain.
 */
interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

const fromLambdaEnvironment = async (): Promise<Credentials> => {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY
  if (!accessKeyId || !secretAccessKey) {
    throw Object.assign(
      new Error(
        'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set: this bundle reads credentials only from the environment Lambda provides. Outside Lambda, run the source, or set them.',
      ),
      { name: 'CredentialsProviderError', tryNextLink: false },
    )
  }
  const sessionToken = process.env.AWS_SESSION_TOKEN
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
}

export const defaultProvider = () => fromLambdaEnvironment
export const credentialsWillNeedRefresh = (credentials?: { expiration?: Date }) =>
  credentials?.expiration !== undefined
export const credentialsTreatedAsExpired = (credentials?: { expiration?: Date }) =>
  credentials?.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300_000

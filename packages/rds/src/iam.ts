import { RdsError } from './errors.ts'
import type { IamAuthOptions } from './options.ts'

export interface IamTarget {
  host: string
  port: number
  user: string
}

/**
 * A postgres.js password function that signs a new IAM authentication token for every physical
 * connection. Signing is local (SigV4 over the current credentials), so there is nothing to cache:
 * a token is valid 15 minutes and PostgreSQL checks it only while connecting.
 */
export function iamPasswordFunction(
  iam: true | IamAuthOptions,
  target: IamTarget,
  env: NodeJS.ProcessEnv = process.env,
): () => Promise<string> {
  const options = iam === true ? {} : iam
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION
  if (!region) {
    throw new RdsError('INVALID_OPTION', 'rds(): `iamAuth` needs a region', {
      hint: 'set iamAuth: { region } or the AWS_REGION environment variable (Lambda sets it)',
    })
  }
  const signerOptions = {
    region,
    hostname: options.hostname ?? target.host,
    port: options.port ?? target.port,
    username: options.username ?? target.user,
  }
  let signer: Promise<{ getAuthToken(): Promise<string> }> | undefined
  return async () => {
    signer ??= import('@aws-sdk/rds-signer')
      .then(({ Signer }) => new Signer(signerOptions))
      .catch((error) => {
        signer = undefined
        throw new RdsError(
          'INVALID_OPTION',
          'rds(): `iamAuth` needs the optional peer dependency @aws-sdk/rds-signer',
          {
            hint: 'npm install @aws-sdk/rds-signer',
            cause: error,
          },
        )
      })
    return (await signer).getAuthToken()
  }
}

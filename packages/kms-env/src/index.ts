export { decryptEnv } from './decrypt-env.ts'
export { defaults } from './defaults.ts'
export { KmsEnvError, type KmsEnvErrorCode, type KmsEnvErrorDetails, kmsEnvErrorCodes } from './errors.ts'
export { type DecryptEvent, decryptChannelName } from './events.ts'
export { type KmsEnvMiddleware, kmsEnv, kmsEnv as default } from './kms-env.ts'
export type {
  DecryptEnvOptions,
  DecryptedValues,
  EncryptionContext,
  FetchSpec,
  KeySpec,
  KmsEnvContext,
  KmsEnvOptions,
} from './types.ts'

export type { Identity } from './connection/client.ts'
export { defaults } from './defaults.ts'
export { RdsError, type RdsErrorCode, type RdsErrorOptions, rdsErrorCodes } from './errors.ts'
export { type MigrateOptions, type MigrateResult, migrate } from './migrate.ts'
export type {
  CredentialSource,
  CredentialSourceMiddleware,
  IamAuthOptions,
  InternalField,
  RdsOptions,
  ReaderOption,
  TlsOption,
} from './options.ts'
export { close, type RdsContext, type RdsDatabase, type RdsPrimary, rds } from './rds.ts'
export { isReadOnly } from './read-only.ts'

import { rds } from './rds.ts'
export default rds
export {
  type ConnectEvent,
  channelNames,
  type DecryptEvent,
  type EventError,
  type EventTarget,
  eventVersion,
  type QueryEvent,
  type RecoverAction,
  type RecoverEvent,
  type RecoverReason,
  sanitizeSql,
  type TlsMode,
} from './events/index.ts'

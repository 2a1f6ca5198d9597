export { channelNames } from './channels.ts'
export { describeFailure } from './error.ts'
export {
  connectFailed,
  connectSucceeded,
  publishRecover,
  queryFailed,
  querySucceeded,
  startConnect,
  startQuery,
  tlsModeOf,
} from './publish.ts'
export { maxStatementLength, type StatementShape, sanitizeSql, shapeOf } from './sql.ts'
export type {
  ConnectEvent,
  DecryptEvent,
  EventError,
  EventTarget,
  QueryEvent,
  RecoverAction,
  RecoverEvent,
  RecoverReason,
  RecoverStep,
  TlsMode,
} from './types.ts'
export { eventVersion } from './types.ts'

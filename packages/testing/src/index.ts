export { type PinnedApart, pinApart } from './bench/pin-apart.ts'
export { startKms } from './kms/server.ts'
export type { KmsCall, KmsEndpoint, KmsFaults, KmsKey, StartKmsOptions } from './kms/types.ts'
export { type StalledListener, startStalledListener } from './net/stalled-listener.ts'
export type { SwitchableEndpoint, Upstream } from './net/switchable-endpoint.ts'
export { startSwitchableEndpoint } from './net/switchable-endpoint.ts'
export { startTcpProxy } from './net/tcp-proxy.ts'
export type { ResponseStarted, StartTcpProxyOptions, TcpProxy } from './net/types.ts'
export { startPostgres } from './postgres/cluster.ts'
export { startPgBouncer } from './postgres/pgbouncer.ts'
export type { PgBouncer, StartPgBouncerOptions } from './postgres/pgbouncer.types.ts'
export type {
  ConnectionInfo,
  PostgresCluster,
  RoleSpec,
  Session,
  SessionFilter,
  StartPostgresOptions,
  TestDatabase,
} from './postgres/types.ts'
export { startReplicatedCluster } from './replication/cluster.ts'
export type {
  ClusterEndpoint,
  FailoverOptions,
  FailoverReport,
  ReaderEndpoint,
  ReplicaNode,
  ReplicaRole,
  ReplicatedCluster,
  RestartOptions,
  RestartReport,
  StartReplicatedClusterOptions,
} from './replication/types.ts'
export { requireSystemBinary } from './system-binary.ts'

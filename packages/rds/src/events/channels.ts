import diagnostics from 'node:diagnostics_channel'

/** The channel names: the stable part of the interface. Subscribe with `node:diagnostics_channel`. */
export const channelNames = {
  /** Tracing channel: `tracing:rdskit:rds:connect:start` … `:asyncEnd`, `:error`. */
  connect: 'rdskit:rds:connect',
  /** Tracing channel: `tracing:rdskit:rds:query:start` … */
  query: 'rdskit:rds:query',
  /** Plain channel: one message per recovery step. */
  recover: 'rdskit:rds:recover',
  /** Tracing channel published by `@rdskit/kms-env`. */
  decrypt: 'rdskit:kms-env:decrypt',
} as const

export const connectChannel = diagnostics.tracingChannel(channelNames.connect)
export const queryChannel = diagnostics.tracingChannel(channelNames.query)
export const recoverChannel = diagnostics.channel(channelNames.recover)

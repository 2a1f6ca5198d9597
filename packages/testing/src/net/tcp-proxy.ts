import type { StartTcpProxyOptions, TcpProxy } from './types.ts'

// Placeholder: the implementation lands in a following commit.
export async function startTcpProxy(_options?: StartTcpProxyOptions): Promise<TcpProxy> {
  throw new Error('startTcpProxy is not implemented yet')
}

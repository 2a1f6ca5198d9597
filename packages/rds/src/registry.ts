import type { RdsClient } from './connection/client.ts'

/** Every client built in this process and not yet ended, so that close() can end them all. */
export const liveClients = new Set<RdsClient>()

/** Ends a client and forgets it; errors while ending are not interesting to anyone. */
export async function endClient(client: RdsClient): Promise<void> {
  liveClients.delete(client)
  await client.end().catch(() => {})
}

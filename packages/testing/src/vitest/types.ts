import type { PostgresCluster, TestDatabase } from '../postgres/types.ts'

/**
 * What a test file gets from the run-wide cluster that the global setup started (or the server
 * TEST_DATABASE_URL names). One cluster per vitest run; one database per test file.
 */
export interface SharedPostgres {
  /** The run-wide cluster: admin helpers work on it; stop() is a no-op (the global setup owns it). */
  cluster(): Promise<PostgresCluster>
  /** A fresh database on it, dropped after the file's tests (afterAll registered for you). */
  testDatabase(): Promise<TestDatabase>
}

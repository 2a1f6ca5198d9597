// Placeholder: starts the run-wide cluster (or adopts TEST_DATABASE_URL) and provides it to test files.
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {}
}

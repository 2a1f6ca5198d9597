import { defineConfig } from 'drizzle-kit'

// `pnpm db:generate` writes SQL migrations from src/db/schema.ts; no database connection needed.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
})

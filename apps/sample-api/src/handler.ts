import { createApp } from './app.ts'
import { configFromEnv } from './config.ts'

/** The Lambda entry point (`handler.handler`): configuration is read once, at INIT. */
export const handler = createApp({ config: configFromEnv() })

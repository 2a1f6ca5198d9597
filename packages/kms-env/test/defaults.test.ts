import { readFileSync } from 'node:fs'
import { KMSClient } from '@aws-sdk/client-kms'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { defaults, kmsEnvErrorCodes } from '../src/index.ts'

/** The properties of `export const <name> = { ... }` in a source file, with their JSDoc text. */
function documentedKeys(file: string, name: string): Map<string, string> {
  const path = new URL(`../src/${file}`, import.meta.url)
  const source = ts.createSourceFile(file, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true)
  const keys = new Map<string, string>()
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && node.name.getText() === name && node.initializer) {
      let init = node.initializer
      if (ts.isAsExpression(init)) init = init.expression
      if (ts.isObjectLiteralExpression(init)) {
        for (const prop of init.properties) {
          const docs = ts.getJSDocCommentsAndTags(prop).map((d) => d.getText())
          keys.set(prop.name?.getText() ?? '', docs.join('\n'))
        }
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return keys
}

describe('defaults', () => {
  it('holds Middy’s defaults and this package’s', () => {
    expect(defaults).toEqual({
      fetchData: {},
      encryptionContext: undefined,
      keyId: undefined,
      json: false,
      setToContext: false,
      setToEnv: false,
      timeout: 5000,
      timeoutMargin: 500,
      requestTimeout: 2000,
      AwsClient: KMSClient,
      awsClientOptions: {},
      awsClientAssumeRole: undefined,
      awsClientCapture: undefined,
      disablePrefetch: false,
      cacheKey: '@rdskit/kms-env',
      cacheKeyExpiry: {},
      cacheExpiry: -1,
    })
  })

  it('documents every option with a JSDoc comment giving its type and default (src/defaults.ts)', () => {
    const keys = documentedKeys('defaults.ts', 'defaults')
    expect([...keys.keys()]).toEqual(Object.keys(defaults))
    for (const [key, doc] of keys) {
      expect(doc, key).toMatch(/^\/\*\*/)
      expect(doc, key).toMatch(/default/i)
    }
  })

  it('gives every error code a one-line meaning (src/errors.ts)', () => {
    const codes = documentedKeys('errors.ts', 'kmsEnvErrorCodes')
    expect([...codes.keys()]).toEqual(Object.keys(kmsEnvErrorCodes))
    for (const meaning of Object.values(kmsEnvErrorCodes)) expect(meaning).not.toContain('\n')
  })
})

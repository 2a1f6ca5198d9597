import { readFileSync } from 'node:fs'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { defaults, rdsErrorCodes } from '../../src/index.ts'

function documentedKeys(file: string, objectName: string) {
  const source = ts.createSourceFile(
    file,
    readFileSync(new URL(`../../src/${file}`, import.meta.url), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  )
  const found: { key: string; doc: string }[] = []
  const visit = (node: ts.Node, prefix: string) => {
    if (ts.isObjectLiteralExpression(node)) {
      for (const property of node.properties) {
        if (!ts.isPropertyAssignment(property)) continue
        const key = prefix + property.name.getText(source)
        const doc = ts
          .getJSDocCommentsAndTags(property)
          .map((d) => d.getText(source))
          .join('')
        found.push({ key, doc })
        visit(property.initializer, `${key}.`)
      }
      return
    }
    ts.forEachChild(node, (child) => visit(child, prefix))
  }
  source.forEachChild((statement) => {
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (declaration.name.getText(source) === objectName && declaration.initializer)
          visit(declaration.initializer, '')
      }
    }
  })
  return found
}

describe('defaults', () => {
  it('documents every option (and every config default) with a JSDoc comment giving its default', () => {
    const keys = documentedKeys('defaults.ts', 'defaults')
    expect(keys.map((k) => k.key)).toEqual(
      expect.arrayContaining([
        ...Object.keys(defaults),
        ...Object.keys(defaults.config).map((k) => `config.${k}`),
      ]),
    )
    for (const { key, doc } of keys) {
      expect(doc, key).toMatch(/default/i)
      expect(doc.length, key).toBeGreaterThan(60)
    }
  })

  it('keeps one connection per container, recycled before the usual idle timeouts of the network path', () => {
    expect(defaults.config.max).toBe(1)
    expect(defaults.config.idle_timeout).toBeLessThan(350)
    expect(defaults.config.max_lifetime).toBeLessThanOrEqual(3600)
    expect(defaults.config.connect_timeout).toBeGreaterThanOrEqual(15)
    expect(defaults.tls).toBe('verify-full')
    expect(defaults.pooler).toBe(false)
  })
})

describe('rdsErrorCodes', () => {
  it('gives each code a one-line meaning', () => {
    for (const [code, meaning] of Object.entries(rdsErrorCodes)) {
      expect(code).toMatch(/^[A-Z_]+$/)
      expect(meaning).not.toContain('\n')
      expect(meaning.length).toBeGreaterThan(20)
    }
  })
})

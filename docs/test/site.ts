import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { docsRoot } from './markdown.ts'

/** The built site: `vitepress build .` runs before vitest in this package's `test` script. */
export const distDir = join(docsRoot, '.vitepress', 'dist')

/** `guide/why.md` → `/guide/why`; `index.md` → `/`; `ja/index.md` → `/ja/` (cleanUrls). */
export const urlOf = (page: string) => `/${page.replace(/\.md$/, '').replace(/(^|\/)index$/, '$1')}`

/** The HTML file a clean URL is served from. */
export function htmlFileOf(url: string): string {
  const path = url.split(/[?#]/)[0] ?? '/'
  if (path.endsWith('/')) return join(distDir, path, 'index.html')
  return join(distDir, `${path}.html`)
}

export function readBuilt(url: string): string {
  const file = htmlFileOf(url)
  if (!existsSync(file)) throw new Error(`${url} was not built (${file}); run \`vitepress build .\` first`)
  return readFileSync(file, 'utf8')
}

/** The main content of a built page (the part VitePress renders from markdown). */
export const contentOf = (html: string) => /<main[\s\S]*?<\/main>/.exec(html)?.[0] ?? ''

/** The ids of the h2–h6 headings (h1 is the page title) of the content. */
export const headingIds = (html: string) =>
  [...contentOf(html).matchAll(/<h[2-6][^>]*\sid="([^"]+)"/g)].map((m) => decodeURIComponent(m[1] ?? ''))

/** Every id in the content. */
export const allIds = (html: string) =>
  new Set([...contentOf(html).matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]))

/** Internal links of the content: href values starting with `/` (VitePress resolves relative ones). */
export const internalLinks = (html: string) =>
  [...contentOf(html).matchAll(/<a [^>]*href="(\/[^"]*)"/g)].map((m) => m[1] ?? '')

import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import config from '../.vitepress/config.ts'
import { fences, listPages, readPage } from './markdown.ts'
import { allIds, contentOf, headingIds, htmlFileOf, internalLinks, readBuilt, urlOf } from './site.ts'

const pages = listPages()
const english = pages.filter((page) => !page.startsWith('ja/'))
const japanese = pages.filter((page) => page.startsWith('ja/'))

type SidebarItem = { link?: string; items?: SidebarItem[] }
const sidebarLinks = (items: SidebarItem[] | undefined): string[] =>
  (items ?? []).flatMap((item) => [...(item.link ? [item.link] : []), ...sidebarLinks(item.items)])

describe('the page set', () => {
  it('has the nine guide pages, the reference and the benchmarks in English', () => {
    expect(english).toEqual([
      'benchmarks.md',
      'guide/connections.md',
      'guide/encrypt-credentials.md',
      'guide/failover.md',
      'guide/iam.md',
      'guide/network.md',
      'guide/observability.md',
      'guide/sample-app.md',
      'guide/troubleshooting.md',
      'guide/why.md',
      'index.md',
      'reference/cli.md',
      'reference/kms-env.md',
      'reference/rds.md',
    ])
  })

  it('has exactly the same pages in Japanese', () => {
    expect(japanese.map((page) => page.slice('ja/'.length))).toEqual(english)
  })

  it.each(english)('gives %s the same code blocks in both languages', (page) => {
    const strip = (md: string) => fences(md).map(({ lang, meta, code }) => ({ lang, meta, code }))
    expect(strip(readPage(`ja/${page}`))).toEqual(strip(readPage(page)))
  })

  it('writes Japanese prose on the Japanese pages', () => {
    for (const page of japanese) {
      const prose = readPage(page).replace(/```[\s\S]*?```/g, '')
      const kana = prose.match(/[\u3040-\u30ff]/g)?.length ?? 0
      expect(kana, page).toBeGreaterThan(100)
    }
  })

  it('lists every page but the home pages in the sidebar of its language', () => {
    const locales = config.locales as Record<string, { themeConfig?: { sidebar?: SidebarItem[] } }>
    const en = sidebarLinks(locales.root?.themeConfig?.sidebar)
    const ja = sidebarLinks(locales.ja?.themeConfig?.sidebar)
    expect(new Set(en)).toEqual(new Set(english.filter((p) => p !== 'index.md').map(urlOf)))
    expect(new Set(ja)).toEqual(new Set(japanese.filter((p) => p !== 'ja/index.md').map(urlOf)))
  })
})

describe('the built site', () => {
  it('fails the build on a dead link', () => {
    expect(config.ignoreDeadLinks).toBe(false)
  })

  it('does not depend on git history', () => {
    expect(config.lastUpdated).toBe(false)
    expect(config.cleanUrls).toBe(true)
  })

  it.each(pages)('has built %s', (page) => {
    expect(existsSync(htmlFileOf(urlOf(page)))).toBe(true)
  })

  it.each(english.filter((page) => page !== 'index.md'))(
    'gives the headings of %s the same anchors in both languages',
    (page) => {
      const en = headingIds(readBuilt(urlOf(page)))
      const ja = headingIds(readBuilt(urlOf(`ja/${page}`)))
      expect(ja).toEqual(en)
      expect(en.length).toBeGreaterThan(0)
    },
  )

  it.each(pages)('points every internal link of %s at a page and anchor that exist', (page) => {
    const broken = internalLinks(readBuilt(urlOf(page)))
      .filter((href) => !/\.(svg|png)$/.test(href))
      .filter((href) => {
        const [path = '/', hash] = href.split('#')
        if (!existsSync(htmlFileOf(path))) return true
        return hash !== undefined && hash !== '' && !allIds(readBuilt(path)).has(decodeURIComponent(hash))
      })
    expect(broken).toEqual([])
  })

  it.each(japanese)('has no stray space between two Japanese characters in %s', (page) => {
    // A line break inside Japanese prose renders as a space: Japanese paragraphs are kept on one line.
    const text = contentOf(readBuilt(urlOf(page)))
      .replace(/<pre[\s\S]*?<\/pre>/g, '')
      .replace(/<[^>]+>/g, '')
    const cjk = '[\u3040-\u30ff\u3400-\u9fff\uff01-\uff60]'
    expect(text.match(new RegExp(`${cjk}\\s+${cjk}`, 'g')) ?? []).toEqual([])
  })

  it('renders the diagrams from SVG files, in the language of the page', () => {
    expect(readBuilt('/guide/network')).toContain('/diagrams/vpc-layout.svg')
    expect(readBuilt('/ja/guide/network')).toContain('/diagrams/vpc-layout.ja.svg')
    expect(readBuilt('/guide/why')).toContain('/diagrams/request-flow.svg')
    expect(readBuilt('/ja/guide/why')).toContain('/diagrams/request-flow.ja.svg')
  })
})

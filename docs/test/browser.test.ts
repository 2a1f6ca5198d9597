import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { requireSystemBinary } from '@rdskit/testing'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsRoot, listPages } from './markdown.ts'
import { serveSite } from './serve.ts'
import { urlOf } from './site.ts'

// Debian's Chromium, driven by playwright-core, against the built site served on 127.0.0.1.
const executablePath = requireSystemBinary('chromium')
const resultsDir = join(docsRoot, 'test-results')
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

describe.skipIf(!executablePath)('the built site in Chromium', () => {
  let browser: Browser
  let site: Awaited<ReturnType<typeof serveSite>>

  beforeAll(async () => {
    site = await serveSite()
    browser = await chromium.launch({ executablePath, args, headless: true })
    mkdirSync(resultsDir, { recursive: true })
  })

  afterAll(async () => {
    await browser?.close()
    await site?.close()
  })

  /** A fresh page that records console errors, uncaught exceptions and failed requests. */
  async function open(path: string): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
    const page = await context.newPage()
    const problems: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`exception: ${error.message}`))
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`))
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`)
    })
    const response = await page.goto(`${site.url}${path}`, { waitUntil: 'networkidle' })
    if (response?.status() !== 200) problems.push(`HTTP ${response?.status()} for ${path}`)
    return { page, problems }
  }

  it.each(listPages().map(urlOf))('loads %s with no console error and its title', async (path) => {
    const { page, problems } = await open(path)
    await expect(page.locator('h1').first().textContent()).resolves.toBeTruthy()
    // Every image of the content loaded (the diagrams are SVG files from public/).
    // (No DOM lib in this tsconfig: it would clash with @types/node's webcrypto in @rdskit/testing.)
    type Image = { naturalWidth: number; src: string }
    const brokenImages = await page.$$eval('main img', (images) =>
      (images as unknown as Image[]).filter((img) => !img.naturalWidth).map((img) => img.src),
    )
    expect(brokenImages).toEqual([])
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('navigates with the sidebar', async () => {
    const { page, problems } = await open('/guide/why')
    await page.locator('.VPSidebar a[href="/guide/iam"]').click()
    await page.waitForURL(`${site.url}/guide/iam`)
    // The router swaps the content after the URL changes: wait for the new title.
    await page.locator('main h1', { hasText: 'IAM' }).waitFor()
    await page.locator('.VPSidebar a[href="/reference/rds"]').click()
    await page.waitForURL(`${site.url}/reference/rds`)
    await page.locator('main h1', { hasText: '@rdskit/rds' }).waitFor()
    await expect(page.locator('.VPSidebar a.VPLink.link[href="/reference/rds"]').count()).resolves.toBe(1)
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('switches between the English and Japanese versions of the same page', async () => {
    const { page, problems } = await open('/guide/network')
    await page.locator('.VPNavBarTranslations').hover()
    await page.locator('.VPNavBarTranslations a', { hasText: '日本語' }).click()
    await page.waitForURL(`${site.url}/ja/guide/network`)
    await page.locator('main h1', { hasText: 'ネットワーク' }).waitFor()
    await expect(page.locator('.VPSidebar').textContent()).resolves.toContain('トラブルシューティング')
    await page.locator('.VPNavBarTranslations').hover()
    await page.locator('.VPNavBarTranslations a', { hasText: 'English' }).click()
    await page.waitForURL(`${site.url}/guide/network`)
    await page.locator('main h1', { hasText: 'Network' }).waitFor()
    expect(problems).toEqual([])
    await page.context().close()
  })

  it.each([
    ['/guide/why', '/guide/iam'],
    ['/ja/guide/why', '/ja/guide/iam'],
  ])('finds "EncryptionContext" with the local search from %s', async (path, expected) => {
    const { page, problems } = await open(path)
    await page.locator('#local-search button').click()
    const input = page.locator('.VPLocalSearchBox input.search-input')
    await input.fill('EncryptionContext')
    const results = page.locator('.VPLocalSearchBox .results a.result')
    await results.first().waitFor()
    const hrefs = await results.evaluateAll((links) => links.map((link) => link.getAttribute('href') ?? ''))
    expect(hrefs.some((href) => href.startsWith(expected))).toBe(true)
    // Search stays within the page's language.
    const japanese = path.startsWith('/ja/')
    expect(hrefs.every((href) => href.startsWith('/ja/') === japanese)).toBe(true)
    expect(problems).toEqual([])
    await page.context().close()
  })

  it('gives every code block a copy button that copies its code', async () => {
    const { page, problems } = await open('/guide/iam')
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: site.url })
    const blocks = page.locator('main div[class*="language-"]')
    const count = await blocks.count()
    expect(count).toBeGreaterThan(2)
    await expect(page.locator('main div[class*="language-"] > button.copy').count()).resolves.toBe(count)
    const first = blocks.first()
    await first.hover()
    await first.locator('button.copy').click()
    // VitePress marks the button `copied` once the clipboard write resolved (and unmarks it 2 s later).
    await first.locator('button.copy.copied').waitFor({ timeout: 5_000 })
    type Clipboard = { navigator: { clipboard: { readText(): Promise<string> } } }
    const copied = await page.evaluate(() =>
      (globalThis as unknown as Clipboard).navigator.clipboard.readText(),
    )
    expect(copied).toContain('kms:EncryptionContext:LambdaFunctionName')
    expect(problems).toEqual([])
    await page.context().close()
  })

  it.each([
    ['/', 'home-en'],
    ['/ja/', 'home-ja'],
    ['/guide/network', 'guide-network-en'],
    ['/ja/guide/network', 'guide-network-ja'],
  ])('writes a screenshot of %s', async (path, name) => {
    const { page, problems } = await open(path)
    const file = join(resultsDir, `${name}.png`)
    const image = await page.screenshot({ path: file, fullPage: path.includes('guide') })
    expect(image.length).toBeGreaterThan(20_000)
    expect(problems).toEqual([])
    await page.context().close()
  })
})

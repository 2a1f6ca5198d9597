import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize } from 'node:path'
import { distDir } from './site.ts'

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/** Maps a request path to a file of the built site the way a clean-URL host does (`/guide/why` → why.html). */
function resolve(pathname: string): string | undefined {
  const path = normalize(decodeURIComponent(pathname)).replace(/^(\.\.[/\\])+/, '')
  const candidates = path.endsWith('/')
    ? [join(distDir, path, 'index.html')]
    : [join(distDir, path), join(distDir, `${path}.html`), join(distDir, path, 'index.html')]
  return candidates.find((file) => file.startsWith(distDir) && existsSync(file) && statSync(file).isFile())
}

/** Serves the built site on 127.0.0.1 (a free port); close it when done. */
export async function serveSite(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://127.0.0.1')
    const file = resolve(pathname)
    const status = file ? 200 : 404
    const body = file ?? join(distDir, '404.html')
    response.writeHead(status, { 'content-type': types[extname(body)] ?? 'application/octet-stream' })
    createReadStream(body).pipe(response)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

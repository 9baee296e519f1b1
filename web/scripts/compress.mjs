// Writes a .gz beside each built asset; the hub serves it to browsers that accept gzip.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const assets = new URL('../dist/assets/', import.meta.url).pathname
for (const name of readdirSync(assets)) {
  if (/\.(js|css|svg)$/.test(name)) {
    const path = join(assets, name)
    writeFileSync(`${path}.gz`, gzipSync(readFileSync(path), { level: 9 }))
  }
}

import { describe, expect, it } from 'vitest'
import { MAX_FILES, pastedName, refusal } from '../uploads'

const policy = { max_bytes: 1000, content_types: ['image/png', 'application/pdf'] }

describe('refusal', () => {
  it('takes a file of an accepted type within the size', () => {
    expect(refusal({ type: 'image/png', size: 1000 }, policy, 0)).toBeNull()
  })
  it('says why a file cannot go', () => {
    expect(refusal({ type: 'application/x-msdownload', size: 10 }, policy, 0)?.reason).toBe('type')
    expect(refusal({ type: 'image/png', size: 1001 }, policy, 0)).toEqual({ reason: 'size', limit: 1000 })
    expect(refusal({ type: 'image/png', size: 1 }, null, 0)?.reason).toBe('textOnly')
    expect(refusal({ type: 'image/png', size: 1 }, policy, MAX_FILES)).toEqual({ reason: 'count', limit: MAX_FILES })
  })
})

describe('pastedName', () => {
  it('names a pasted image by when it was pasted', () => {
    const file = new File(['x'], 'image.png', { type: 'image/png' })
    expect(pastedName(file, new Date('2026-12-07T10:11:12Z'))).toBe('pasted-2026-12-07-10-11-12.png')
  })
})

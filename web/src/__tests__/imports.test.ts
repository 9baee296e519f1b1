import { describe, expect, it } from 'vitest'
import { choices, finished, percent, sampleValues, type ImportRecord } from '../imports'

function record(overrides: Partial<ImportRecord>): ImportRecord {
  return {
    id: 'i1', status: 'running', dry_run: false, created: 0, updated: 0, skipped: 0, failed_rows: 0,
    processed: 0, rows: null, mapping: {}, headers: [], sample: [], fields: [], error: null, ...overrides,
  }
}

describe('import progress', () => {
  it('is unknown (0) until the rows are counted, then the share processed', () => {
    expect(percent(record({ rows: null, processed: 500 }))).toBe(0)
    expect(percent(record({ rows: 2000, processed: 500 }))).toBe(25)
    expect(percent(record({ rows: 3, processed: 2 }))).toBe(66)
  })

  it('is whole once done, even for an empty file', () => {
    expect(percent(record({ status: 'done', rows: 0 }))).toBe(100)
    expect(finished(record({ status: 'failed' }))).toBe(true)
    expect(finished(record({ status: 'queued' }))).toBe(false)
  })
})

describe('column mapping', () => {
  it('offers every field, the column as a custom attribute, and ignoring it', () => {
    const offered = choices(['email', 'name'], ' 会员等级 ')
    expect(offered.map((choice) => choice.value)).toEqual(['email', 'name', 'attributes.会员等级', ''])
    expect(offered.map((choice) => choice.kind)).toEqual(['field', 'field', 'attribute', 'ignore'])
  })

  it('offers no custom attribute for an order column', () => {
    expect(choices(['number', 'total'], '备注', 'orders').map((choice) => choice.value)).toEqual(['number', 'total', ''])
  })

  it('shows a column by its first non-empty values', () => {
    const sample = [{ 邮箱: 'a@example.com' }, { 邮箱: ' ' }, { 邮箱: 'b@example.com' }]
    expect(sampleValues(sample, '邮箱')).toBe('a@example.com · b@example.com')
    expect(sampleValues(sample, 'missing')).toBe('')
  })
})

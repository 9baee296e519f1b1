import { describe, expect, it } from 'vitest'
import { filterOf, valueOf, type SegmentField } from '../segments'

const fields: SegmentField[] = [
  { field: 'tier', kind: 'choice', ops: ['is', 'is_not', 'in'] },
  { field: 'orders.total', kind: 'number', ops: ['gte'] },
  { field: 'marketing_consent', kind: 'bool', ops: ['is'] },
  { field: 'company', kind: 'text', ops: ['is_set'] },
]

describe('segment builder', () => {
  it('reads a value as its field wants it', () => {
    expect(valueOf('number', 'gte', '500')).toBe(500)
    expect(valueOf('bool', 'is', 'true')).toBe(true)
    expect(valueOf('choice', 'in', 'Champions, Loyal,')).toEqual(['Champions', 'Loyal'])
    expect(valueOf('text', 'is_set', 'ignored')).toBeUndefined()
  })

  it('makes the filter of the filled-in rows, none while empty', () => {
    expect(filterOf('all', [{ field: 'tier', op: 'is', value: '' }], fields)).toBeNull()
    expect(
      filterOf('any', [
        { field: 'tier', op: 'in', value: 'Champions,Loyal' },
        { field: 'orders.total', op: 'gte', value: '500' },
        { field: 'company', op: 'is_set', value: '' },
      ], fields),
    ).toEqual({
      any: [
        { field: 'tier', op: 'in', value: ['Champions', 'Loyal'] },
        { field: 'orders.total', op: 'gte', value: 500 },
        { field: 'company', op: 'is_set' },
      ],
    })
  })
})

import { describe, expect, it } from 'vitest'
import { mentionAt, mentionedIds } from '../mentions'

describe('mentions', () => {
  it('finds the @word being typed at the caret, and only there', () => {
    expect(mentionAt('ask @bo', 7)).toEqual({ start: 4, query: 'bo' })
    expect(mentionAt('@', 1)).toEqual({ start: 0, query: '' })
    expect(mentionAt('mail a@b.com', 12)).toBeNull()
    expect(mentionAt('ask @bob now', 12)).toBeNull()
  })

  it('keeps the picked colleagues the text still names, once each', () => {
    const picked = new Map([['@Bob', 'b1'], ['@Cara', 'c1'], ['@Bob B', 'b1']])
    expect(mentionedIds('@Bob and @Bob again', picked)).toEqual(['b1'])
    expect(mentionedIds('nobody now', picked)).toEqual([])
  })
})

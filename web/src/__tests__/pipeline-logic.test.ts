import { describe, expect, it } from 'vitest'
import { columns, isCurrencyCode } from '../pipeline-logic'
import type { Deal } from '../types'

function deal(id: string, stage: Deal['stage'], value: number | null, currency = 'EUR'): Deal {
  return { id, title: id, stage, value, currency, owner_id: null, contact_id: 'c' }
}

describe('the deals board', () => {
  it('has every stage in order and sums value per currency', () => {
    const board = columns([deal('a', 'new', 100), deal('b', 'new', 50), deal('c', 'new', 7, 'USD'), deal('d', 'won', null)])
    expect(board.map((c) => c.stage)).toEqual(['new', 'qualified', 'proposal', 'won', 'lost'])
    expect(board[0]?.totals).toEqual({ EUR: 150, USD: 7 })
    expect(board[3]?.deals.map((d) => d.id)).toEqual(['d'])
    expect(board[3]?.totals).toEqual({})
  })

  it('formats only well-formed currency codes as money', () => {
    expect(['EUR', 'CNY'].every(isCurrencyCode)).toBe(true)
    expect(['1$#', 'eur', 'EURO', ''].some(isCurrencyCode)).toBe(false)
    for (const code of ['EUR', 'CNY']) expect(() => new Intl.NumberFormat('en', { style: 'currency', currency: code })).not.toThrow()
  })
})

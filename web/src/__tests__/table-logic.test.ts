import { describe, expect, it } from 'vitest'
import { filterRows, sortRows, toCsv, type Column } from '../table-logic'

interface Row { name: string | null; score: number | null }
const columns: Column<Row>[] = [
  { key: 'name', label: 'Name', value: (row) => row.name },
  { key: 'score', label: 'Score', value: (row) => row.score },
]
const rows: Row[] = [
  { name: 'Zoë', score: 10 },
  { name: null, score: 80 },
  { name: 'adam', score: 9 },
  { name: '李雷', score: null },
]

describe('sortRows', () => {
  it('sorts numbers as numbers and text case-blind, empty cells last', () => {
    expect(sortRows(rows, columns[1], 'ascending').map((r) => r.score)).toEqual([9, 10, 80, null])
    expect(sortRows(rows, columns[1], 'descending').map((r) => r.score)).toEqual([80, 10, 9, null])
    expect(sortRows(rows, columns[0], 'ascending').map((r) => r.name).slice(0, 2)).toEqual(['adam', 'Zoë'])
    expect(sortRows(rows, columns[0], 'ascending').at(-1)?.name).toBeNull()
  })
})

describe('filterRows', () => {
  it('keeps rows with every word, accents and case aside, in Chinese too', () => {
    expect(filterRows(rows, columns, 'zoe').map((r) => r.name)).toEqual(['Zoë'])
    expect(filterRows(rows, columns, '李雷').map((r) => r.name)).toEqual(['李雷'])
    expect(filterRows(rows, columns, '  ')).toHaveLength(4)
  })
})

describe('toCsv', () => {
  it('quotes what needs quoting and defuses formulas', () => {
    const csv = toCsv([{ name: '=HYPERLINK("x")', score: -3 }, { name: 'a,b', score: null }], columns)
    expect(csv).toBe('Name,Score\r\n"\'=HYPERLINK(""x"")",-3\r\n"a,b",\r\n')
  })
})

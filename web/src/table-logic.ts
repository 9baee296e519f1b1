// The data table's rules, apart from Vue: sorting, filtering and CSV export of what is shown.

export type Cell = string | number | null | undefined

export interface Column<Row> {
  key: string
  label: string
  value: (row: Row) => Cell // what the column sorts, filters and exports by
  sortable?: boolean
}

export type Direction = 'ascending' | 'descending'

/** Rows ordered by one column; empty cells last either way, ties keep their order. */
export function sortRows<Row>(rows: Row[], column: Column<Row> | undefined, direction: Direction): Row[] {
  if (!column) return rows
  const sign = direction === 'ascending' ? 1 : -1
  return rows
    .map((row, index) => ({ row, index, cell: column.value(row) }))
    .sort((a, b) => {
      const empty = Number(a.cell == null || a.cell === '') - Number(b.cell == null || b.cell === '')
      if (empty) return empty
      const order =
        typeof a.cell === 'number' && typeof b.cell === 'number'
          ? a.cell - b.cell
          : String(a.cell).localeCompare(String(b.cell), undefined, { numeric: true, sensitivity: 'base' })
      return order * sign || a.index - b.index
    })
    .map(({ row }) => row)
}

/** Rows with every word of `text` in one of their cells (case and accents aside). */
export function filterRows<Row>(rows: Row[], columns: Column<Row>[], text: string): Row[] {
  const words = fold(text).split(/\s+/).filter(Boolean)
  if (!words.length) return rows
  return rows.filter((row) => {
    const cells = fold(columns.map((column) => column.value(row) ?? '').join(' '))
    return words.every((word) => cells.includes(word))
  })
}

function fold(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase()
}

/** RFC 4180 CSV with a header row. A cell a spreadsheet would run as a formula (=, +, -, @)
 * is quoted as text, so an exported customer name cannot execute anything. */
export function toCsv<Row>(rows: Row[], columns: Column<Row>[]): string {
  const line = (cells: Cell[]): string => cells.map(csvCell).join(',')
  return [line(columns.map((column) => column.label)), ...rows.map((row) => line(columns.map((column) => column.value(row))))].join('\r\n') + '\r\n'
}

function csvCell(cell: Cell): string {
  let text = cell == null ? '' : String(cell)
  if (/^[=+\-@\t\r]/.test(text) && typeof cell !== 'number') text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

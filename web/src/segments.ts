// The segment builder's logic: conditions as the form holds them, the filter the API takes
// (POST /api/v1/segments/preview), and what a value input means for each kind of field.

export type FieldKind = 'text' | 'number' | 'days' | 'choice' | 'bool' | 'lookup'
export interface SegmentField { field: string; kind: FieldKind; ops: string[] }
export interface ConditionRow { field: string; op: string; value: string }
export type Join = 'all' | 'any'
export interface Condition { field: string; op: string; value?: unknown }
export type Filter = Partial<Record<Join, Condition[]>>

const NO_VALUE = new Set(['is_set', 'is_not_set'])

/** Whether an op takes a value ("is set" does not). */
export function takesValue(op: string): boolean {
  return !NO_VALUE.has(op)
}

/** A value as typed, as the field's kind wants it: numbers, true/false, a list for "in". */
export function valueOf(kind: FieldKind, op: string, text: string): unknown {
  if (!takesValue(op)) return undefined
  if (kind === 'number' || kind === 'days') return Number(text)
  if (kind === 'bool') return text === 'true'
  if (op === 'in') return text.split(',').map((part) => part.trim()).filter(Boolean)
  return text
}

/** The filter of the rows that are filled in; null while none is. */
export function filterOf(join: Join, rows: ConditionRow[], fields: SegmentField[]): Filter | null {
  const kinds = new Map(fields.map((field) => [field.field, field.kind]))
  const conditions = rows
    .filter((row) => row.field && row.op && (!takesValue(row.op) || row.value.trim() !== ''))
    .map((row): Condition => {
      const value = valueOf(kinds.get(row.field) ?? 'text', row.op, row.value.trim())
      return value === undefined ? { field: row.field, op: row.op } : { field: row.field, op: row.op, value }
    })
  return conditions.length ? { [join]: conditions } : null
}

// A contact import as the console follows it: the column-mapping step's choices and samples,
// and the progress of a running import (GET /api/v1/imports/{id}).

export type ImportStatus = 'queued' | 'running' | 'done' | 'failed'
export type ImportKind = 'contacts' | 'orders'

export interface ImportRecord {
  id: string
  status: ImportStatus
  dry_run: boolean
  created: number
  updated: number
  skipped: number
  failed_rows: number
  processed: number
  rows: number | null
  mapping: Record<string, string>
  headers: string[]
  sample: Record<string, string>[]
  fields: string[]
  error: string | null
}

export const ATTRIBUTE_PREFIX = 'attributes.'

export interface MappingChoice {
  value: string
  kind: 'field' | 'attribute' | 'ignore'
  field?: string
}

export function finished(record: ImportRecord): boolean {
  return record.status === 'done' || record.status === 'failed'
}

/** How far along, 0-100: unknown until the file's rows are counted. */
export function percent(record: ImportRecord): number {
  if (record.status === 'done') return 100
  if (!record.rows) return 0
  return Math.min(100, Math.floor((record.processed / record.rows) * 100))
}

/** What a column may fill: each field, a custom attribute under its own name (a contact's
 * only), or nothing. */
export function choices(fields: string[], column: string, kind: ImportKind = 'contacts'): MappingChoice[] {
  const attribute: MappingChoice[] = kind === 'contacts' ? [{ value: `${ATTRIBUTE_PREFIX}${column.trim()}`, kind: 'attribute' }] : []
  return [
    ...fields.map((field): MappingChoice => ({ value: field, kind: 'field', field })),
    ...attribute,
    { value: '', kind: 'ignore' },
  ]
}

/** A column's first values, for recognising it. */
export function sampleValues(sample: Record<string, string>[], column: string): string {
  return sample
    .map((row) => row[column]?.trim() ?? '')
    .filter(Boolean)
    .join(' · ')
}

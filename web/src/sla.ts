// An SLA due time as agents read it: how long is left, or how long ago it was missed.
export interface Countdown {
  breached: boolean
  minutes: number // whole minutes left (or over, when breached)
}

export function countdown(due: string, met: string | null, now: number = Date.now()): Countdown | null {
  if (met) return null
  const left = Math.round((Date.parse(due) - now) / 60_000)
  return { breached: left < 0, minutes: Math.abs(left) }
}

export type Translate = (key: string, values: Record<string, unknown>) => string

/** "12 min left", "5 min overdue" or "Met", in the user's language. */
export function dueText(t: Translate, due: string, met: string | null, now: number): string {
  const left = countdown(due, met, now)
  if (!left) return t('tickets.met', {})
  return t(left.breached ? 'tickets.overdue' : 'tickets.left', { minutes: left.minutes })
}

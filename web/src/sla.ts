// An SLA due time as agents read it: how long is left, or how long ago it was missed.
import { onBeforeUnmount, ref, type Ref } from 'vue'

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

/** "12 min left", "5 min overdue" or "Met", in the user's language, and whether it is late. */
export function dueState(t: Translate, due: string, met: string | null, now: number): { text: string; late: boolean } {
  const left = countdown(due, met, now)
  if (!left) return { text: t('tickets.met', {}), late: false }
  return { text: t(left.breached ? 'tickets.overdue' : 'tickets.left', { minutes: left.minutes }), late: left.breached }
}

/** The time, ticking every half minute while the component that asked is on screen. */
export function useClock(): Ref<number> {
  const now = ref(Date.now())
  const timer = setInterval(() => (now.value = Date.now()), 30_000)
  onBeforeUnmount(() => clearInterval(timer))
  return now
}

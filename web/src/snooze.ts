// When a snooze ends, in the agent's own time zone: the times the console offers.

/** 9:00 tomorrow. */
export function tomorrowMorning(now: Date = new Date()): string {
  const at = new Date(now)
  at.setDate(at.getDate() + 1)
  at.setHours(9, 0, 0, 0)
  return at.toISOString()
}

/** 9:00 next Monday (a week on, when today is Monday). */
export function nextMonday(now: Date = new Date()): string {
  const at = new Date(now)
  at.setDate(at.getDate() + (((8 - at.getDay()) % 7) || 7))
  at.setHours(9, 0, 0, 0)
  return at.toISOString()
}

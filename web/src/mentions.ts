// Mentions in a private note: where an `@name` is being typed, and which picked colleagues the
// sent text still names.

/** The `@` word ending at `caret` (its start, and what follows the `@`), if one is being typed. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  const found = /(^|\s)@([^\s@]*)$/.exec(text.slice(0, caret))
  if (!found) return null
  const [, before = '', query = ''] = found
  return { start: found.index + before.length, query }
}

/** The ids of the picked colleagues whose `@Name` the text still holds (each once). */
export function mentionedIds(text: string, picked: ReadonlyMap<string, string>): string[] {
  return [...new Set([...picked].filter(([name]) => text.includes(name)).map(([, id]) => id))]
}

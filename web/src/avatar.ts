// A person's initials and a steady colour for them, for an avatar without a picture.

/** Up to two initials: the first letters of the first two words ("Ann Lee" -> "AL"); a name
 * written without spaces (most Chinese names) gives its first character ("王小明" -> "王"). */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean)
  if (!words.length) return '?'
  const letters = words.length > 1 ? [words[0], words[1]] : [words[0]]
  return letters.map((word) => Array.from(word ?? '')[0] ?? '').join('').toUpperCase()
}

/** One of a few hues, always the same for the same name. */
export function hue(name: string): number {
  let sum = 0
  for (const char of name) sum = (sum * 31 + (char.codePointAt(0) ?? 0)) % 360
  return sum
}

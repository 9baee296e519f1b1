// The console's theme: the system's (light or dark, following it), or one chosen and
// remembered in this browser.
export const THEMES = ['system', 'light', 'dark'] as const
export type Theme = (typeof THEMES)[number]
const STORED = 'hub.theme'

export function storedTheme(storage: Storage = localStorage): Theme {
  const stored = storage.getItem(STORED)
  return (THEMES as readonly string[]).includes(stored ?? '') ? (stored as Theme) : 'system'
}

/** The theme to draw: a chosen one, else the system's. */
export function resolvedTheme(theme: Theme, systemDark: boolean): 'light' | 'dark' {
  return theme === 'system' ? (systemDark ? 'dark' : 'light') : theme
}

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = resolvedTheme(theme, systemDark())
}

export function chooseTheme(theme: Theme, storage: Storage = localStorage): void {
  storage.setItem(STORED, theme)
  applyTheme(theme)
}

/** Draw the stored theme now, and again when the system's changes while it is followed. */
export function startTheme(): void {
  applyTheme(storedTheme())
  if (typeof matchMedia === 'function') {
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(storedTheme()))
  }
}

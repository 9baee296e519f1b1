import { describe, expect, it } from 'vitest'
import { chooseTheme, resolvedTheme, storedTheme } from '../theme'

describe('theme', () => {
  it('follows the system unless one is chosen', () => {
    expect(resolvedTheme('system', true)).toBe('dark')
    expect(resolvedTheme('system', false)).toBe('light')
    expect(resolvedTheme('light', true)).toBe('light')
  })

  it('remembers a choice and draws it', () => {
    localStorage.setItem('hub.theme', 'purple')
    expect(storedTheme()).toBe('system')
    chooseTheme('dark')
    expect(storedTheme()).toBe('dark')
    expect(document.documentElement.dataset.theme).toBe('dark')
  })
})

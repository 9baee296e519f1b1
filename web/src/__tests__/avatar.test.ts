import { describe, expect, it } from 'vitest'
import { hue, initials } from '../avatar'

describe('avatar', () => {
  it('takes initials from the first two words, or the first character', () => {
    expect(initials('Ann Lee')).toBe('AL')
    expect(initials('carla')).toBe('C')
    expect(initials('王小明')).toBe('王')
    expect(initials('  ')).toBe('?')
  })

  it('gives a name the same hue every time', () => {
    expect(hue('Ann Lee')).toBe(hue('Ann Lee'))
    expect(hue('Ann Lee')).toBeGreaterThanOrEqual(0)
  })
})

import { describe, expect, it } from 'vitest'
import { couponWorth, localName, money, rfmShort } from '../customer-value'

const tiers = [{ name: 'Champions', name_zh: '冠军客户' }]

describe('customer value', () => {
  it('names a tier in the console language, and an undefined one as it is', () => {
    expect(localName('Champions', tiers, 'zh-CN')).toBe('冠军客户')
    expect(localName('Champions', tiers, 'en')).toBe('Champions')
    expect(localName('Gone', tiers, 'zh-CN')).toBe('Gone')
  })

  it('shows scores and amounts for a glance', () => {
    expect(rfmShort({ recency: 5, frequency: 2, monetary: 3 })).toBe('R5 F2 M3')
    expect(money('59.70', 'USD', 'en')).toBe('$59.70')
    expect(money('5', 'CNY', 'zh-CN')).toBe('¥5.00')
  })

  it('says what a coupon is worth', () => {
    const base = { code: 'X', remaining: 1, valid_until: null }
    expect(couponWorth({ ...base, amount: null, currency: null, percent: 10 }, 'en')).toBe('10%')
    expect(couponWorth({ ...base, amount: 5, currency: 'EUR', percent: null }, 'en')).toBe('€5.00')
  })
})

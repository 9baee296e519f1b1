// A customer's value as the console shows it: tier and level names in the console's language,
// RFM scores, amounts with their currency (GET /api/v1/contacts/{id}/value, /customer-value).
import { api } from './api'

export interface Named { name: string; name_zh: string }
export interface ValueConfig { tiers: Named[]; levels: (Named & { min_spend: number })[] }
export interface Rfm { recency: number; frequency: number; monetary: number }
export interface Order {
  id: string
  contact_id: string
  number: string
  status: string
  total: string
  currency: string
  placed_at: string
  items: { name: string; quantity: number; price: string }[]
}
export interface Coupon {
  code: string
  amount: number | null
  currency: string | null
  percent: number | null
  remaining: number
  valid_until: string | null
}
export interface CustomerValue {
  id: string
  rfm: Rfm | null
  tier: string | null
  membership: { level: string; points: number }
  purchases: { count: number; total: number; last_at: string | null }
  orders: Order[]
  mentioned: Order[] // orders whose numbers the conversation's messages mention
  coupons: Coupon[]
  base_currency: string
}

let config: Promise<ValueConfig> | null = null

/** The tiers and levels, read once per page load. */
export function valueConfig(): Promise<ValueConfig> {
  config ??= api<ValueConfig>('GET', '/api/v1/customer-value').catch((error: unknown) => {
    config = null
    throw error
  })
  return config
}

/** A tier's or level's name in the console's language (its own name when none is defined). */
export function localName(name: string, named: Named[], locale: string): string {
  const found = named.find((item) => item.name === name)
  return found && locale.startsWith('zh') ? found.name_zh : name
}

/** "R5 F2 M3": the scores, for a glance. */
export function rfmShort(rfm: Rfm): string {
  return `R${rfm.recency} F${rfm.frequency} M${rfm.monetary}`
}

export function money(amount: string | number, currency: string, locale: string): string {
  return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(Number(amount))
}

/** What a coupon is worth: "10%" or "¥5.00". */
export function couponWorth(coupon: Coupon, locale: string): string {
  if (coupon.percent !== null) return `${coupon.percent}%`
  return money(coupon.amount ?? 0, coupon.currency ?? 'USD', locale)
}

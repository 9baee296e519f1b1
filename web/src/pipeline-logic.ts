// The deals board's arithmetic, apart from Vue: cards per stage and the value each stage holds.
import { DEAL_STAGES, type Deal, type DealStage } from './types'

export interface Column {
  stage: DealStage
  deals: Deal[]
  totals: Record<string, number> // per currency: deals in different currencies are not added up
}

export function columns(deals: Deal[]): Column[] {
  return DEAL_STAGES.map((stage) => {
    const here = deals.filter((deal) => deal.stage === stage)
    const totals: Record<string, number> = {}
    for (const deal of here) {
      if (deal.value !== null) {
        const currency = deal.currency ?? '?'
        totals[currency] = (totals[currency] ?? 0) + deal.value
      }
    }
    return { stage, deals: here, totals }
  })
}

// A currency the browser can format: three letters. Anything else (stored before the hub checked
// codes) is shown as a number and the code, so one bad record cannot blank the board
// (Intl.NumberFormat throws a RangeError on a malformed code).
export function isCurrencyCode(code: string): boolean {
  return /^[A-Z]{3}$/.test(code)
}

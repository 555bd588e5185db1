// Spent / budget / remaining, with a bar that turns amber, then red, as the budget runs out.
import type { CostState } from '../../../lib/index.js'
import { formatDollars } from './status.js'

export function CostTicker ({ cost }: { cost: CostState | null }) {
  const share = cost === null || cost.budget === 0 ? 0 : Math.min(1, cost.spent / cost.budget)
  const tone = share > 0.9 ? 'danger' : share > 0.7 ? 'warn' : 'ok'
  return (
    <div className='stat cost' data-testid='cost-ticker'>
      <div className='stat__label'>Cost</div>
      <div className='stat__value'>
        <span data-testid='cost-spent'>{cost === null ? '—' : formatDollars(cost.spent)}</span>
        <span className='stat__muted'> / <span data-testid='cost-budget'>{cost === null ? '—' : formatDollars(cost.budget)}</span></span>
      </div>
      <div className={`bar bar--${tone}`}><div className='bar__fill' style={{ width: `${share * 100}%` }} /></div>
      <div className='stat__hint'>
        <span data-testid='cost-remaining'>{cost === null ? '—' : formatDollars(cost.remaining)}</span> remaining
      </div>
    </div>
  )
}

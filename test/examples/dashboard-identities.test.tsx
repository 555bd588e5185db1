// Identities reach every viewer verbatim (`identify` is the application's, and the demo's takes any
// `?viewer=` name): the demo renders them as text, never as markup (see docs/security.md).

import '../support/react-environment.js'
import { cleanup, render, screen } from '@testing-library/react'
import t from 'tap'
import { Viewers } from '../../examples/dashboard/src/Viewers.js'
import type { PresenceView } from '../../lib/react/index.js'

t.afterEach(() => cleanup())

t.test('a viewer named with markup is shown as text', async (t) => {
  const name = '<img src=x onerror="window.pwned=1"><b>boss</b>'
  const viewer = { id: 'other', identity: { id: 'mallory', name }, gate: null }
  const presence: PresenceView = { viewers: [viewer], count: 2, self: 'me', gates: new Map() }
  const { container } = render(<Viewers presence={presence} />)
  t.equal(container.querySelector('img, b'), null, 'no element made from the name')
  t.match(screen.getByTestId('viewer-count').getAttribute('title'), name, 'the name, as it was sent, as text')
})

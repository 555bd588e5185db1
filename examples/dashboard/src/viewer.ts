// Who this tab is, for presence: the demo has no login, so each tab makes up a name and keeps it for
// its session. The server's `identify` reads it from the stream's query string.

const KEY = 'dag-demo-viewer'
const NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara', 'Ken', 'Radia', 'Edsger', 'Frances']

function makeUpName (): string {
  const name = NAMES[Math.floor(Math.random() * NAMES.length)] as string
  return `${name} ${Math.floor(Math.random() * 90 + 10)}`
}

export function viewerName (): string {
  let name = sessionStorage.getItem(KEY)
  if (name === null) {
    name = makeUpName()
    sessionStorage.setItem(KEY, name)
  }
  return name
}

/** For useDAGStream's `streamParams`: stable, so it can be passed at every render. */
export const viewerParams = () => ({ viewer: viewerName() })

// A DOM for the React tests (happy-dom), registered before React and Testing Library load: import
// this module first. Node's own fetch is kept, since happy-dom's applies browser CORS rules to the
// test server; the client gets `ws` as its WebSocket like any Node program.

import { GlobalRegistrator } from '@happy-dom/global-registrator'
import t from 'tap'
import WebSocket from 'ws'
import type { UseDAGStreamOptions } from '../../lib/react/index.js'
import { fastBackoff, type Server } from './client-helpers.js'

const nodeFetch = globalThis.fetch
GlobalRegistrator.register({ url: 'http://localhost/' })
t.teardown(() => GlobalRegistrator.unregister())

/** Hook options that reach the test server from Node. */
export function hookOptions (server: Server, options: UseDAGStreamOptions = {}): UseDAGStreamOptions {
  return { baseUrl: server.http, WebSocket, fetch: nodeFetch, backoff: fastBackoff, ...options }
}

// The layout, off the main thread: a big graph's layout takes long enough to freeze the page.
import { layout, type LayoutRequest } from './layout-core.js'

self.onmessage = (event: MessageEvent<LayoutRequest>) => {
  const result = layout(event.data)
  ;(self as unknown as Worker).postMessage(result, [result.xy.buffer])
}

// A WebSocket client written byte by byte on a TCP socket, for what a well-behaved client library never
// sends: invalid UTF-8, floods of fragments, headers trickled one byte at a time.

import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

export const Opcode = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9 } as const

/** One client frame (masked, as RFC 6455 requires of clients), final unless `fin` is false. */
export function clientFrame (opcode: number, payload: Buffer, fin = true): Buffer {
  if (payload.length > 125) throw new RangeError('clientFrame writes short frames only (at most 125 bytes)')
  const mask = randomBytes(4)
  const masked = Buffer.from(payload.map((byte, index) => byte ^ (mask[index % 4] as number)))
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]), mask, masked])
}

/** The request line and headers of a WebSocket upgrade, ending with the blank line. */
export function upgradeRequest (path: string, extraHeaders = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`
  )
}

/** A raw TCP connection that keeps everything the server sent, and says when it closed. */
export class RawConnection {
  readonly socket: Socket
  #received = Buffer.alloc(0)
  readonly closed: Promise<void>

  constructor (port: number) {
    this.socket = connect(port, '127.0.0.1')
    // A write after the server closed fails with EPIPE or ECONNRESET: that is the point of these tests.
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk) => {
      this.#received = Buffer.concat([this.#received, chunk])
    })
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()))
  }

  /** Opens a stream on `path`; resolves once the 101 arrived. */
  static async upgrade (port: number, path: string): Promise<RawConnection> {
    const connection = new RawConnection(port)
    connection.socket.write(upgradeRequest(path))
    await connection.waitFor('\r\n\r\n')
    if (!connection.text.startsWith('HTTP/1.1 101')) throw new Error(`no upgrade: ${connection.text.split('\r\n')[0] ?? ''}`)
    return connection
  }

  /** Everything received, as text (the HTTP response, and frames as Latin-1). */
  get text (): string {
    return this.#received.toString('latin1')
  }

  /**
   * Resolves once the server has read everything written so far: a ping is answered in order, even
   * between the fragments of a message.
   */
  async drained (): Promise<void> {
    const token = randomBytes(8).toString('hex')
    this.socket.write(clientFrame(Opcode.PING, Buffer.from(token)))
    await this.waitFor(token)
  }

  /**
   * What the server did with everything written so far: closed the socket (its close code), or read it
   * all and kept the socket `'open'` (then destroyed here, so that a test never waits for it).
   */
  async outcome (): Promise<number | 'open' | undefined> {
    try {
      await this.drained()
    } catch {
      return this.closeCode()
    }
    this.socket.destroy()
    return 'open'
  }

  /** The status code of the server's close frame, once the connection has closed. */
  async closeCode (): Promise<number | undefined> {
    await this.closed
    const bytes = this.#received
    let offset = this.text.indexOf('\r\n\r\n') + 4
    // Server frames are unmasked: a 2-byte header, then a 2- or 8-byte extended length past 125.
    while (offset + 2 <= bytes.length) {
      const opcode = (bytes[offset] as number) & 0x0f
      let length = (bytes[offset + 1] as number) & 0x7f
      let header = 2
      if (length === 126) [length, header] = [bytes.readUInt16BE(offset + 2), 4]
      else if (length === 127) [length, header] = [Number(bytes.readBigUInt64BE(offset + 2)), 10]
      if (opcode === Opcode.CLOSE) return bytes.readUInt16BE(offset + header)
      offset += header + length
    }
    return undefined
  }

  /** Resolves once `text` (Latin-1, as `text` shows bytes) has been received; rejects after `timeoutMs`. */
  async waitFor (text: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.text.includes(text)) {
      if (this.socket.destroyed) throw new Error(`closed before the response was complete: ${this.text}`)
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${JSON.stringify(text)}; received: ${this.text}`)
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer)
          this.socket.off('data', wake).off('close', wake)
          resolve()
        }
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()))
        this.socket.on('data', wake).on('close', wake)
      })
    }
  }
}

// A redis-server of the bench's own, on a free port, killed with the bench: what INFO commandstats
// counts there is the bench's work alone.

import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { killWithBench } from './redis-ipc.js'

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    }).once('error', reject)
  })
}

/** Starts the server and resolves with its URL once it accepts connections. */
export async function startOwnRedis (): Promise<string> {
  const port = await freePort()
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  killWithBench(server)
  await new Promise<void>((resolve, reject) => {
    let output = ''
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) resolve()
    })
    server.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${output}`)))
  })
  return `redis://127.0.0.1:${port}`
}

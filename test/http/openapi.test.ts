import swagger from '@fastify/swagger'
import { validate, compileErrors } from '@readme/openapi-parser'
import Fastify from 'fastify'
import t from 'tap'
import dagStream from '../../lib/index.js'

t.test('the OpenAPI document generated from the route schemas validates and has every REST route', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'runs', version: '1.0.0' } } })
  await app.register(dagStream, { prefix: '/api/dags' })
  await app.ready()
  t.teardown(() => app.close())
  const document = app.swagger() as unknown as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }

  const result = await validate(structuredClone(document) as never)
  t.ok(result.valid, result.valid ? 'valid OpenAPI 3.1' : compileErrors(result))

  t.same(
    Object.keys(document.paths).sort(),
    ['/api/dags', '/api/dags/{id}', '/api/dags/{id}/commands', '/api/dags/{id}/events'],
    'the WebSocket route is in the AsyncAPI document instead'
  )
  t.same(Object.keys(document.paths['/api/dags/{id}']?.get?.responses ?? {}).sort(), ['200', '401', '403', '404', '503'])
  t.match(document.paths['/api/dags/{id}']?.get?.responses['200'], {
    content: { 'application/json': { schema: { properties: { seq: { type: 'integer' }, nodes: { type: 'array' } } } } }
  })
  t.match(document.paths['/api/dags/{id}/events']?.get, {
    parameters: [{ name: 'since', in: 'query' }, { name: 'epoch', in: 'query' }, { name: 'id', in: 'path' }, { name: 'last-event-id', in: 'header' }],
    responses: { 200: { content: { 'text/event-stream': { schema: { type: 'string' } } } }, 429: {} }
  })
  t.match(document.paths['/api/dags/{id}/commands']?.post, {
    requestBody: { content: { 'application/json': { schema: { anyOf: Array } } } },
    responses: { 200: { content: { 'application/json': {} } }, 204: { description: /gate_viewing/ }, 400: {}, 403: {}, 404: {}, 409: {}, 429: {}, 503: {} }
  })
  t.match(JSON.stringify(document), /"stream_key":\{[^}]*"pattern"/, 'gate_viewing with its stream key')
  t.match(document.paths['/api/dags/{id}/events']?.get, { responses: { 200: { description: /`event: stream`/ } } }, 'the key, first on the stream')
  t.match(document.paths['/api/dags']?.get, { parameters: [{ name: 'limit', in: 'query' }, { name: 'offset', in: 'query' }] })
})

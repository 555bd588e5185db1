// The plugin's HTTP routes that are not a DAG's stream: the DAG list (whose upgrade is the live list),
// a DAG's snapshot, the AsyncAPI document and the Prometheus scrape route.

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify'
import { ListRoute, SnapshotRoute, type ListQuery } from '../../schemas/routes.js'
import type { DAGSnapshot } from '../../schemas/snapshot.js'
import type { StreamAccess } from '../access/pre-handlers.js'
import { buildAsyncApiDocument, serversOf, type AsyncApiDocument } from './asyncapi.js'
import type { Backplane, DAGListPageQuery } from '../backplane/types.js'
import { CloseCode } from '../shared/close-codes.js'
import { DAGNotFoundError } from '../errors.js'
import { ListConnection, type LiveLists } from './live-list.js'
import { logProtocolError, redactedLogSerializers as logSerializers } from './log.js'
import { refusalReasonOf, type Metrics } from '../metrics/metrics.js'
import type { ResolvedOptions } from '../options.js'
import { answerRouteError } from './route-errors.js'
import { acceptedEncodings, type SnapshotCache } from './snapshots.js'

export interface RestRouteDeps {
  options: Pick<ResolvedOptions, 'prefix' | 'asyncapi' | 'authorize' | 'maxBufferedBytes'>
  backplane: Backplane
  metrics: Metrics
  access: StreamAccess
  liveLists: LiveLists
  snapshots: SnapshotCache
}

export function registerRestRoutes (fastify: FastifyInstance, { options, backplane, metrics, access, liveLists, snapshots }: RestRouteDeps): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { prefix } = options

  if (options.asyncapi !== false) {
    const { path, title, version, servers } = options.asyncapi
    // Built once, at the first request (the app listens by then, so its addresses are known): the
    // protocol cannot change while the server runs.
    let document: AsyncApiDocument | undefined
    app.get(path, async () => {
      document ??= buildAsyncApiDocument({ prefix, title, version, servers: servers ?? serversOf(fastify.addresses(), Boolean(fastify.initialConfig.https)) })
      return document
    })
  }

  const { scrapeRoute } = metrics
  if (scrapeRoute !== undefined) {
    app.get(scrapeRoute.path, async (_request, reply) => reply.type(scrapeRoute.registry.contentType).send(await scrapeRoute.registry.metrics()))
  }

  // One route, two answers: a plain GET gets the page, an upgrade gets the page and then its changes
  // (lib/http/live-list.ts). The guards of a stream apply to the upgrade only.
  app.route({
    method: 'GET',
    url: prefix,
    logSerializers,
    schema: {
      ...ListRoute,
      tags: ['dags'],
      summary: 'List the DAGs of every instance, newest first unless asked otherwise',
      description: 'With `Upgrade: websocket`, the live list: this page, then a frame per change (see the AsyncAPI document).'
    },
    schemaErrorFormatter: describeSchemaErrors,
    errorHandler: answerRouteError,
    onRequest: async (request, reply) => {
      if (request.ws) access.checkUpgrade(request, reply)
    },
    preHandler: async (request) => access.admitList(request),
    onError: async (request, _reply, error) => {
      if (request.ws) metrics.upgradeRefused(refusalReasonOf(error))
    },
    wsHandler: async (socket, request) => {
      access.upgradeLeftovers.release(socket, request, logProtocolError)
      const query = listQueryOf(request.query)
      const list = new ListConnection(socket, request, query, {
        expiresAt: access.takeAdmission(request).expiresAt,
        maxBufferedBytes: options.maxBufferedBytes,
        authorize: options.authorize,
        metrics,
        readPage: () => backplane.list(query),
        onClose: (closed) => liveLists.leave(closed)
      })
      try {
        // Join before reading the page: a change made while it is read waits in the connection.
        await liveLists.join(list)
      } catch (error) {
        list.log.error({ err: error }, 'fastify-dag-stream: could not follow the DAG list')
        list.close(CloseCode.INTERNAL_ERROR, 'could not follow the DAG list')
        return
      }
      await list.start()
    },
    handler: async (request) => {
      const query = listQueryOf(request.query)
      const page = await backplane.list(query)
      const allowed = await Promise.all(page.dags.map(async (dag) => (await options.authorize(request, dag.dag_id, 'view')).allowed))
      const { limit, offset, order } = query
      return { dags: page.dags.filter((_, index) => allowed[index]), total: page.total, limit, offset, order }
    }
  })

  app.get(
    `${prefix}/:id`,
    {
      logSerializers,
      schema: { ...SnapshotRoute, tags: ['dags'], summary: 'The state of one DAG, stamped with the seq it includes' },
      preHandler: async (request) => access.requireAllowed(request, request.params.id, 'view'),
      errorHandler: answerRouteError
    },
    async (request, reply) => {
      const served = await snapshots.read(request.params.id, acceptedEncodings(request.headers['accept-encoding']))
      if (served === undefined) throw new DAGNotFoundError(request.params.id)
      reply.header('content-type', 'application/json; charset=utf-8').header('vary', 'accept-encoding')
      if (served.encoding !== undefined) reply.header('content-encoding', served.encoding)
      // Bytes serialized once per seq (lib/http/snapshots.ts): Fastify sends a Buffer as is, and the schema
      // above documents what it holds.
      return reply.send(served.body as unknown as DAGSnapshot)
    }
  )
}

/** The list a query asks for, newest first unless it says otherwise: the page and the live list read the same. */
function listQueryOf ({ limit, offset, order = 'newest', status }: ListQuery): DAGListPageQuery {
  return { limit, offset, order, status }
}

/** Fastify's own wording, plus the allowed values of an enum: `querystring/order must be one of: newest, oldest`. */
function describeSchemaErrors (errors: FastifySchemaValidationError[], dataVar: string): Error {
  return new Error(errors.map((error) => {
    const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues
    const message = allowed === undefined ? error.message : `must be one of: ${allowed.join(', ')}`
    return `${dataVar}${error.instancePath} ${message}`
  }).join(', '))
}

// The protocol of fastify-dag-stream: schemas and the types derived from them.
export * from './events.js'
export * from './snapshot.js'
export * from './routes.js'
export * from './list.js'
export * from './output.js'
export * from './engine.js'

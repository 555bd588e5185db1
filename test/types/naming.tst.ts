import { expect, test } from 'tstyche'
import type {
  DAGStream,
  DAGStreamOptions,
  DAGListPageQuery,
  LogHead,
  DagStream,
  DagStreamOptions,
  DagListQuery,
  DagStatus
} from '../../lib/index.js'
import { DAGNotFoundError, DagNotFoundError, InvalidDAGIdError, InvalidDagIdError } from '../../lib/index.js'
import { DAGListChangeFrame, DagListChangeFrame, DAGListFrame, DagListFrame } from '../../schemas/index.js'
import type { ConnectionStatus, DAGListStatus, DAGStreamClient, DAGListClient, DAGStreamClientEvents } from '../../lib/client/index.js'
import { useDAGList, useDAGStream } from '../../lib/react/index.js'

test('the DAG-cased names, and the old ones as the same types', () => {
  expect<DagStream>().type.toBe<DAGStream>()
  expect<DagStreamOptions>().type.toBe<DAGStreamOptions>()
  expect<DagListQuery>().type.toBe<DAGListPageQuery>()
  expect<DagStatus>().type.toBe<LogHead>()
  expect(DagNotFoundError).type.toBe(DAGNotFoundError)
  expect(InvalidDagIdError).type.toBe(InvalidDAGIdError)
  expect<DagListChangeFrame>().type.toBe<DAGListChangeFrame>()
  expect(DagListFrame).type.toBe(DAGListFrame)
})

test('the connection state is `connection`; `status` stays as its alias', () => {
  const stream = useDAGStream('run-42')
  expect(stream.connection).type.toBe<ConnectionStatus>()
  expect(stream.status).type.toBe<ConnectionStatus>()
  expect(useDAGList().connection).type.toBe<DAGListStatus>()
  expect<DAGStreamClient['connection']>().type.toBe<ConnectionStatus>()
  expect<DAGListClient['connection']>().type.toBe<DAGListStatus>()
  expect<DAGStreamClientEvents['connection']>().type.toBe<ConnectionStatus>()
})

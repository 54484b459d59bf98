/**
 * The one module of src/ that imports @platformatic/kafka: everything else takes the library's symbols
 * from here. `npm run build` replaces this module's compiled output with a bundle of only these symbols
 * (scripts/bundle-kafka.ts), whose option validators compile on first use: importing the library's root
 * loads 328 modules and compiles every client's ajv schemas, about 0.4 CPU s of every command's start.
 * Add a symbol here, not a second import of the library (test/unit/kafka-bundle.test.ts checks).
 */
export {
  Admin,
  addPartitionsToTxnV3,
  ConfigResourceTypes,
  ConfigSources,
  Connection,
  Consumer,
  createTopicsV7,
  endTxnV4,
  findCoordinatorV4,
  compressionsAlgorithms,
  FetchIsolationLevels,
  IncrementalAlterConfigOperationTypes,
  initProducerIdV4,
  listOffsetsV7,
  metadataV12,
  murmur2,
  offsetForLeaderEpochV4,
  protocolErrorsCodesById,
  Writer,
} from '@platformatic/kafka';
export type {
  AdminOptions,
  API,
  Callback,
  ConnectionOptions,
  ConsumerGroupJoinPayload,
  ConsumerOptions,
  Reader,
  ResponseParser,
  SASLOptions,
} from '@platformatic/kafka';

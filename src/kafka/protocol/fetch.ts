import { Writer, type Reader } from '../lib.js';

/*
  Fetch Request (Version: 12) => replica_id max_wait_ms min_bytes max_bytes isolation_level session_id session_epoch [topics] [forgotten_topics_data] rack_id TAG_BUFFER
    replica_id => INT32
    max_wait_ms => INT32
    min_bytes => INT32
    max_bytes => INT32
    isolation_level => INT8
    session_id => INT32
    session_epoch => INT32
    topics => topic [partitions] TAG_BUFFER
      topic => COMPACT_STRING
      partitions => partition current_leader_epoch fetch_offset last_fetched_epoch log_start_offset partition_max_bytes TAG_BUFFER
        partition => INT32
        current_leader_epoch => INT32
        fetch_offset => INT64
        last_fetched_epoch => INT32
        log_start_offset => INT64
        partition_max_bytes => INT32
    forgotten_topics_data => topic [partitions] TAG_BUFFER
      topic => COMPACT_STRING
      partitions => INT32
    rack_id => COMPACT_STRING

  Fetch Response (Version: 12) => throttle_time_ms error_code session_id [responses] TAG_BUFFER
    throttle_time_ms => INT32
    error_code => INT16
    session_id => INT32
    responses => topic [partitions] TAG_BUFFER
      topic => COMPACT_STRING
      partitions => partition_index error_code high_watermark last_stable_offset log_start_offset [aborted_transactions] preferred_read_replica records TAG_BUFFER
        partition_index => INT32
        error_code => INT16
        high_watermark => INT64
        last_stable_offset => INT64
        log_start_offset => INT64
        aborted_transactions => producer_id first_offset TAG_BUFFER
          producer_id => INT64
          first_offset => INT64
        preferred_read_replica => INT32
        records => COMPACT_RECORDS

  Version 12 is the newest that names topics (13+ use topic ids) and is served by Kafka 2.7 to 4.x.
  Unlike @platformatic/kafka's parser, this one keeps `records` as the raw bytes the broker sent:
  backup stores Kafka's record batches untouched, without decompressing them.
*/

export const FETCH_API_KEY = 1;
export const FETCH_VERSION = 12;

export const IsolationLevel = { READ_UNCOMMITTED: 0, READ_COMMITTED: 1 } as const;

export interface FetchPartitionRequest {
  partition: number;
  fetchOffset: bigint;
  partitionMaxBytes: number;
  currentLeaderEpoch?: number;
}

export interface FetchTopicRequest {
  topic: string;
  partitions: FetchPartitionRequest[];
}

export interface FetchRequest {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  isolationLevel: number;
  topics: FetchTopicRequest[];
}

export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

export interface FetchPartitionResponse {
  partition: number;
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  abortedTransactions: AbortedTransaction[];
  /** Raw record batches as sent by the broker; may end with a partial batch. Empty when none. */
  records: Buffer;
}

export interface FetchResponse {
  throttleTimeMs: number;
  errorCode: number;
  topics: Map<string, FetchPartitionResponse[]>;
}

export function createFetchRequest(req: FetchRequest): Writer {
  return Writer.create()
    .appendInt32(-1)
    .appendInt32(req.maxWaitMs)
    .appendInt32(req.minBytes)
    .appendInt32(req.maxBytes)
    .appendInt8(req.isolationLevel)
    .appendInt32(0) // session_id: no incremental fetch sessions
    .appendInt32(-1) // session_epoch -1 = full fetch, no session
    .appendArray(req.topics, (w, t) => {
      w.appendString(t.topic).appendArray(t.partitions, (w, p) => {
        w.appendInt32(p.partition)
          .appendInt32(p.currentLeaderEpoch ?? -1)
          .appendInt64(p.fetchOffset)
          .appendInt32(-1)
          .appendInt64(-1n)
          .appendInt32(p.partitionMaxBytes);
      });
    })
    .appendArray([] as string[], () => {})
    .appendString('')
    .appendTaggedFields();
}

const EMPTY: Buffer = Buffer.alloc(0);

export function parseFetchResponse(_correlationId: number, _apiKey: number, _apiVersion: number, r: Reader): FetchResponse {
  const throttleTimeMs = r.readInt32();
  const errorCode = r.readInt16();
  r.readInt32(); // session_id
  const topics = new Map<string, FetchPartitionResponse[]>();
  r.readArray((r) => {
    const topic = r.readString();
    const partitions = r.readArray(
      (r) => {
        const partition = r.readInt32();
        const pErr = r.readInt16();
        const highWatermark = r.readInt64();
        const lastStableOffset = r.readInt64();
        const logStartOffset = r.readInt64();
        const aborted =
          r.readNullableArray((r) => {
            const a = { producerId: r.readInt64(), firstOffset: r.readInt64() };
            return a;
          }) ?? [];
        r.readInt32(); // preferred_read_replica
        let size = r.readUnsignedVarInt();
        let records: Buffer = EMPTY;
        if (size > 1) {
          size--;
          records = r.buffer.slice(r.position, r.position + size);
          r.skip(size);
        }
        r.readTaggedFields();
        return { partition, errorCode: pErr, highWatermark, lastStableOffset, logStartOffset, abortedTransactions: aborted, records };
      },
      true,
      false,
    );
    topics.set(topic, partitions);
  });
  r.readTaggedFields();
  return { throttleTimeMs, errorCode, topics };
}

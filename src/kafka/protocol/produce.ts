import { Writer, type Reader } from '../lib.js';

/*
  Produce Request (Version: 9) => transactional_id acks timeout_ms [topic_data] TAG_BUFFER
    transactional_id => COMPACT_NULLABLE_STRING
    acks => INT16
    timeout_ms => INT32
    topic_data => name [partition_data] TAG_BUFFER
      name => COMPACT_STRING
      partition_data => index records TAG_BUFFER
        index => INT32
        records => COMPACT_RECORDS

  Produce Response (Version: 9) => [responses] throttle_time_ms TAG_BUFFER
    responses => name [partition_responses] TAG_BUFFER
      name => COMPACT_STRING
      partition_responses => index error_code base_offset log_append_time_ms log_start_offset [record_errors] error_message TAG_BUFFER
        index => INT32
        error_code => INT16
        base_offset => INT64
        log_append_time_ms => INT64
        log_start_offset => INT64
        record_errors => batch_index batch_index_error_message TAG_BUFFER
          batch_index => INT32
          batch_index_error_message => COMPACT_NULLABLE_STRING
        error_message => COMPACT_NULLABLE_STRING
    throttle_time_ms => INT32

  Unlike @platformatic/kafka's producer, `records` here are record batches we built or kept
  byte for byte (header order, duplicate header keys and null header values survive).
*/

export const PRODUCE_API_KEY = 0;
export const PRODUCE_VERSION = 9;

export interface ProducePartitionData {
  partition: number;
  /** One or more complete v2 record batches, concatenated. */
  records: Buffer[];
}

export interface ProducePartitionResponse {
  partition: number;
  errorCode: number;
  baseOffset: bigint;
  logAppendTimeMs: bigint;
  logStartOffset: bigint;
  recordErrors: { batchIndex: number; message: string | null }[];
  errorMessage: string | null;
}

export function createProduceRequest(
  acks: number,
  timeoutMs: number,
  topics: { topic: string; partitions: ProducePartitionData[] }[],
  transactionalId: string | null = null,
): Writer {
  const w = Writer.create()
    .appendString(transactionalId)
    .appendInt16(acks)
    .appendInt32(timeoutMs)
    .appendArray(topics, (w, t) => {
      w.appendString(t.topic).appendArray(t.partitions, (w, p) => {
        const len = p.records.reduce((n, b) => n + b.length, 0);
        w.appendInt32(p.partition).appendUnsignedVarInt(len + 1);
        for (const b of p.records) w.append(b);
      });
    })
    .appendTaggedFields();
  // acks 0: the broker sends no response; the connection must not wait for one (it would time out).
  if (acks === 0) w.context.noResponse = true;
  return w;
}

export function parseProduceResponse(_c: number, _k: number, _v: number, r: Reader): Map<string, ProducePartitionResponse[]> {
  const out = new Map<string, ProducePartitionResponse[]>();
  r.readArray((r) => {
    const topic = r.readString();
    const parts = r.readArray(
      (r) => {
        const p: ProducePartitionResponse = {
          partition: r.readInt32(),
          errorCode: r.readInt16(),
          baseOffset: r.readInt64(),
          logAppendTimeMs: r.readInt64(),
          logStartOffset: r.readInt64(),
          recordErrors: r.readArray((r) => ({ batchIndex: r.readInt32(), message: r.readNullableString() })),
          errorMessage: r.readNullableString(),
        };
        r.readTaggedFields();
        return p;
      },
      true,
      false,
    );
    out.set(topic, parts);
  });
  r.readInt32();
  r.readTaggedFields();
  return out;
}

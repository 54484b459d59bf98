import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Gives ProducerPerformance's records what a real data set has and the tool does not generate:
 * a key (about 1000 distinct), two headers, and a synthetic timestamp (base + record number,
 * 1 ms apart) so a benchmark knows exactly which records a time window holds.
 * Configured through producer props: bench.ts.base (ms).
 */
public class BenchInterceptor implements ProducerInterceptor<byte[], byte[]> {
  private final AtomicLong n = new AtomicLong();
  private long base = 1_700_000_000_000L;
  private static final byte[] SOURCE = "kafka-backup-bench".getBytes(StandardCharsets.UTF_8);

  @Override
  public ProducerRecord<byte[], byte[]> onSend(ProducerRecord<byte[], byte[]> r) {
    long i = n.getAndIncrement();
    RecordHeaders h = new RecordHeaders();
    h.add("source", SOURCE);
    h.add("seq", Long.toString(i).getBytes(StandardCharsets.UTF_8));
    byte[] key = ("customer-" + (i * 7919 % 1000)).getBytes(StandardCharsets.UTF_8);
    return new ProducerRecord<>(r.topic(), r.partition(), base + i, key, r.value(), h);
  }

  @Override public void onAcknowledgement(RecordMetadata m, Exception e) {}
  @Override public void close() {}
  @Override public void configure(Map<String, ?> configs) {
    Object b = configs.get("bench.ts.base");
    if (b != null) base = Long.parseLong(b.toString());
  }
}

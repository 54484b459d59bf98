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
 * Configured through producer props: bench.ts.base (ms), bench.values ("random": ProducerPerformance's
 * random upper-case letters, which zstd shrinks by 40 % at every level; "json": a 1 KiB JSON event per record,
 * made from the record number, with the repeated field names, ids, enums and sentences of application logs and
 * events, so that compression levels differ as they do on users' data).
 */
public class BenchInterceptor implements ProducerInterceptor<byte[], byte[]> {
  private final AtomicLong n = new AtomicLong();
  private long base = 1_700_000_000_000L;
  private boolean json = false;
  private static final String[] STATUS = {"created", "paid", "packed", "shipped", "delivered", "returned", "cancelled"};
  private static final String[] CITY = {"Lisbon", "Porto", "Madrid", "Lyon", "Berlin", "Hamburg", "Milan", "Oslo", "Krakow", "Ghent"};
  private static final String[] WORDS = ("the order was received and is being prepared for shipment by our warehouse team "
      + "customer asked to change the delivery address before dispatch payment confirmed by the card issuer "
      + "item back in stock notification sent retry scheduled after timeout from the upstream service").split(" ");
  private static final byte[] SOURCE = "kafka-backup-bench".getBytes(StandardCharsets.UTF_8);

  @Override
  public ProducerRecord<byte[], byte[]> onSend(ProducerRecord<byte[], byte[]> r) {
    long i = n.getAndIncrement();
    RecordHeaders h = new RecordHeaders();
    h.add("source", SOURCE);
    h.add("seq", Long.toString(i).getBytes(StandardCharsets.UTF_8));
    byte[] key = ("customer-" + (i * 7919 % 1000)).getBytes(StandardCharsets.UTF_8);
    byte[] value = json ? jsonValue(i, r.value().length) : r.value();
    return new ProducerRecord<>(r.topic(), r.partition(), base + i, key, value, h);
  }

  /** A JSON event of exactly `size` bytes (padded with a note field), deterministic in `i`. */
  static byte[] jsonValue(long i, int size) {
    long x = i * 0x9E3779B97F4A7C15L;
    StringBuilder b = new StringBuilder(size);
    b.append("{\"event_id\":\"evt-").append(Long.toHexString(x & 0xFFFFFFFFFFFFL))
        .append("\",\"type\":\"order.").append(STATUS[(int) Long.remainderUnsigned(x >>> 7, STATUS.length)])
        .append("\",\"order_id\":").append(100_000_000L + i / 3)
        .append(",\"customer\":{\"id\":\"customer-").append(i * 7919 % 1000)
        .append("\",\"city\":\"").append(CITY[(int) Long.remainderUnsigned(x >>> 13, CITY.length)])
        .append("\",\"tier\":\"").append((x >>> 21 & 3) == 0 ? "gold" : "standard")
        .append("\"},\"amount\":{\"value\":").append(Long.remainderUnsigned(x >>> 17, 100_000) / 100.0)
        .append(",\"currency\":\"EUR\"},\"items\":[");
    int items = 1 + (int) Long.remainderUnsigned(x >>> 29, 4);
    for (int k = 0; k < items; k++) {
      if (k > 0) b.append(',');
      b.append("{\"sku\":\"SKU-").append(Long.remainderUnsigned(x >>> (31 + k), 5000))
          .append("\",\"qty\":").append(1 + (x >>> (37 + k) & 3)).append('}');
    }
    b.append("],\"note\":\"");
    long w = x;
    while (b.length() < size - 2) {
      b.append(WORDS[(int) Long.remainderUnsigned(w, WORDS.length)]).append(' ');
      w = w * 6364136223846793005L + 1442695040888963407L;
    }
    b.setLength(size - 2);
    b.append("\"}");
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  @Override public void onAcknowledgement(RecordMetadata m, Exception e) {}
  @Override public void close() {}
  @Override public void configure(Map<String, ?> configs) {
    Object b = configs.get("bench.ts.base");
    if (b != null) base = Long.parseLong(b.toString());
    json = "json".equals(String.valueOf(configs.get("bench.values")));
  }
}

package medidash.spark;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import org.apache.parquet.bytes.BytesInput;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.column.page.PageWriter;
import org.apache.parquet.column.statistics.Statistics;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;

/**
 * One event column whose values come in runs: a source row's integer shares of a total (its
 * first {@code extra} events {@code lo + 1}, the others {@code lo}), or nulls for all its events
 * (a nullable share whose total is absent). Its pages are built a run at a time, straight into
 * a value array, and handed to the row group's {@link PageWriter}: the same version 1 data
 * pages, PLAIN values and RLE definition levels that parquet-mr's column writer makes, without
 * its per-value calls (definition level, value stream, statistics), which cost as much per event
 * as the whole rest of an event.
 */
final class RunColumn {
  /** Values per page: 1 MiB of INT64, parquet-mr's default page size. */
  static final int PAGE_VALUES = 128 * 1024;

  private final ColumnDescriptor descriptor;
  private final boolean int32;
  private final boolean optional;
  private final long[] values = new long[PAGE_VALUES];
  private int count; // values in the page being built
  private int rows; // events in that page, nulls included
  private final ByteArrayOutputStream levels = new ByteArrayOutputStream();
  private int levelRun; // events in the current run of definition levels
  private int levelRunValue; // that run's level: 1 a value, 0 a null
  private Statistics<?> statistics;
  private PageWriter pages;

  RunColumn(ColumnDescriptor descriptor) {
    this.descriptor = descriptor;
    this.int32 = descriptor.getPrimitiveType().getPrimitiveTypeName() == PrimitiveTypeName.INT32;
    this.optional = descriptor.getMaxDefinitionLevel() > 0;
  }

  /** Writes the next pages to {@code writer} (a new row group's page writer for this column). */
  void startRowGroup(PageWriter writer) {
    pages = writer;
    statistics = Statistics.createStats(descriptor.getPrimitiveType());
  }

  /** The events of one row: {@code n} shares, the first {@code extra} of them {@code lo + 1}. */
  void shares(long lo, long extra, long n) throws IOException {
    if (int32) {
      Math.toIntExact(extra > 0 ? lo + 1 : lo); // a share too large for its column fails the task
    }
    if (extra > 0) {
      run(lo + 1, extra);
    }
    run(lo, n - extra);
  }

  /** The events of one row whose total is absent: {@code n} nulls. */
  void nulls(long n) throws IOException {
    long left = n;
    while (left > 0) {
      int take = (int) Math.min(left, PAGE_VALUES - rows);
      level(0, take);
      statistics.incrementNumNulls(take);
      rows += take;
      left -= take;
      if (rows == PAGE_VALUES) {
        flushPage();
      }
    }
  }

  private void run(long value, long n) throws IOException {
    if (n <= 0) {
      return;
    }
    long left = n;
    while (left > 0) {
      int take = (int) Math.min(left, PAGE_VALUES - rows);
      updateStatistics(value);
      Arrays.fill(values, count, count + take, value);
      count += take;
      rows += take;
      if (optional) {
        level(1, take);
      }
      left -= take;
      if (rows == PAGE_VALUES) {
        flushPage();
      }
    }
  }

  private void updateStatistics(long value) {
    if (int32) {
      statistics.updateStats((int) value);
    } else {
      statistics.updateStats(value);
    }
  }

  private void level(int value, int n) {
    if (levelRun > 0 && levelRunValue != value) {
      endLevelRun();
    }
    levelRunValue = value;
    levelRun += n;
  }

  /** An RLE run of the hybrid encoding at bit width 1: its length, then its value in a byte. */
  private void endLevelRun() {
    int header = levelRun << 1;
    while ((header & ~0x7F) != 0) {
      levels.write((header & 0x7F) | 0x80);
      header >>>= 7;
    }
    levels.write(header);
    levels.write(levelRunValue);
    levelRun = 0;
  }

  /** Bytes held for this column's row group: its written pages and the page being built. */
  long bufferedSize() {
    return (pages == null ? 0 : pages.getMemSize()) + (long) count * (int32 ? 4 : 8);
  }

  /** Writes the page being built, if it has any event. */
  void flushPage() throws IOException {
    if (rows == 0) {
      return;
    }
    ByteBuffer plain = ByteBuffer.allocate(count * (int32 ? 4 : 8)).order(ByteOrder.LITTLE_ENDIAN);
    if (int32) {
      for (int i = 0; i < count; i++) {
        plain.putInt((int) values[i]);
      }
    } else {
      plain.asLongBuffer().put(values, 0, count);
    }
    BytesInput data = BytesInput.from(plain.array());
    Encoding definitionEncoding = Encoding.BIT_PACKED; // no levels: the column is required
    if (optional) {
      endLevelRun();
      byte[] rle = levels.toByteArray();
      data = BytesInput.concat(BytesInput.fromInt(rle.length), BytesInput.from(rle), data);
      definitionEncoding = Encoding.RLE;
      levels.reset();
    }
    pages.writePage(
        data, rows, rows, statistics, Encoding.BIT_PACKED, definitionEncoding, Encoding.PLAIN);
    statistics = Statistics.createStats(descriptor.getPrimitiveType());
    count = 0;
    rows = 0;
  }
}

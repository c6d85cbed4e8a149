package medidash.spark;

import java.io.IOException;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.ColumnWriteStore;
import org.apache.parquet.column.ColumnWriter;
import org.apache.parquet.column.ParquetProperties;
import org.apache.parquet.compression.CompressionCodecFactory;
import org.apache.parquet.hadoop.CodecFactory;
import org.apache.parquet.hadoop.ColumnChunkPageWriteStore;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.apache.parquet.schema.Type;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.execution.datasources.parquet.SparkToParquetSchemaConverter;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;
import org.apache.spark.util.SerializableConfiguration;

/**
 * Writes the event lake: every source row of a partition becomes its {@code n} events, written
 * straight to one Parquet file per partition through parquet-mr's column writers.
 *
 * <p>Why not {@code explode} + Spark's Parquet writer: there, every event is a row that Spark
 * builds and then hands, field by field, to parquet-mr's record consumer; per event that costs
 * more than the event itself. Here an event's values go straight to the column writers, and the
 * values a row's events share (its strings) are looked up in the dictionary once per source row
 * ({@link RunValuesWriterFactory}).
 *
 * <p>What each output column holds is described per column, in the output schema's order:
 * <ul>
 *   <li>{@code copy:K} the source row's field K (a string, the same for all its events);
 *   <li>{@code date:S:N} the data year's first day plus {@code (S + i * days div N) mod days}:
 *       event {@code i} of {@code N}, spread evenly over the year from start day field S;
 *   <li>{@code share:T:N} the integer shares of field T (a total, at least 0) over the row's
 *       {@code n} events (field N): {@code T div n}, plus one for the first {@code T mod n}
 *       events, so that they add up to the total exactly;
 *   <li>{@code nullable_share:T:N} the same for a total that may be absent (an optional
 *       column): null on every event of a row whose field T is null.
 * </ul>
 * Field N of the {@code date} column is also the number of events of the row. The files depend
 * only on the partition's rows and their order, never on the machine or the core count.
 */
public final class EventFiles
    implements Function2<Integer, Iterator<InternalRow>, Iterator<Long>> {
  private static final long serialVersionUID = 1L;
  private static final int COPY = 0;
  private static final int DATE = 1;
  private static final int SHARE = 2;
  /** A row group's buffered size, unless the Hadoop configuration's parquet.block.size says. */
  private static final long ROW_GROUP_BYTES = 128L * 1024 * 1024;
  private static final int SIZE_CHECK_EVENTS = 65_536;
  private static final String ZSTD_LEVEL_KEY = "parquet.compression.codec.zstd.level";

  private final String directory;
  private final String parquetSchema;
  private final String sparkSchemaJson;
  private final String sparkVersion;
  private final int[] kinds;
  private final int[] first;
  private final int[] second;
  private final boolean[] nullable;
  private final int year;
  private final String[] inputNames;
  private final SerializableConfiguration hadoopConf;

  private EventFiles(
      String directory,
      String parquetSchema,
      String sparkSchemaJson,
      String sparkVersion,
      List<String> columns,
      int year,
      String[] inputNames,
      SerializableConfiguration hadoopConf) {
    this.directory = directory;
    this.parquetSchema = parquetSchema;
    this.sparkSchemaJson = sparkSchemaJson;
    this.sparkVersion = sparkVersion;
    this.kinds = new int[columns.size()];
    this.first = new int[columns.size()];
    this.second = new int[columns.size()];
    this.nullable = new boolean[columns.size()];
    this.year = year;
    this.inputNames = inputNames;
    this.hadoopConf = hadoopConf;
    for (int c = 0; c < columns.size(); c++) {
      String[] parts = columns.get(c).split(":");
      switch (parts[0]) {
        case "copy":
          kinds[c] = COPY;
          break;
        case "date":
          kinds[c] = DATE;
          break;
        case "share":
          kinds[c] = SHARE;
          break;
        case "nullable_share":
          kinds[c] = SHARE;
          nullable[c] = true;
          break;
        default:
          throw new IllegalArgumentException("unknown event column kind: " + columns.get(c));
      }
      first[c] = Integer.parseInt(parts[1]);
      second[c] = parts.length > 2 ? Integer.parseInt(parts[2]) : -1;
    }
  }

  /**
   * Writes {@code rows} (already partitioned and ordered) to {@code directory}: the file
   * {@code part-NNNNN.parquet} for partition NNNNN (none for an empty partition, except
   * partition 0, so that the folder always has the schema), zstd-compressed at {@code
   * zstdLevel}. Returns the events written.
   */
  public static long write(
      Dataset<Row> rows,
      String directory,
      String sparkSchemaJson,
      List<String> columns,
      int year,
      int zstdLevel)
      throws IOException {
    StructType schema = (StructType) DataType.fromJson(sparkSchemaJson);
    if (schema.fields().length != columns.size()) {
      throw new IllegalArgumentException(
          schema.fields().length + " output fields but " + columns.size() + " column specs");
    }
    MessageType parquet = new SparkToParquetSchemaConverter(SQLConf.get()).convert(schema);
    Configuration conf = rows.sparkSession().sessionState().newHadoopConf();
    conf.setInt(ZSTD_LEVEL_KEY, zstdLevel);
    Path folder = new Path(directory);
    folder.getFileSystem(conf).mkdirs(folder);
    EventFiles task =
        new EventFiles(
            directory,
            parquet.toString(),
            schema.json(),
            rows.sparkSession().version(),
            columns,
            year,
            rows.schema().fieldNames(),
            new SerializableConfiguration(conf));
    long total = 0;
    for (long written :
        rows.queryExecution().toRdd().toJavaRDD().mapPartitionsWithIndex(task, false).collect()) {
      total += written;
    }
    return total;
  }

  @Override
  public Iterator<Long> call(Integer partition, Iterator<InternalRow> rows) throws IOException {
    if (!rows.hasNext() && partition != 0) {
      return Collections.emptyIterator();
    }
    Configuration conf = hadoopConf.value();
    String name = String.format("part-%05d.parquet", partition);
    TaskContext task = TaskContext.get();
    long attempt = task == null ? 0 : task.taskAttemptId();
    Path target = new Path(directory, name);
    Path partial = new Path(directory, "_" + name + "." + attempt + ".tmp");
    FileSystem fs = target.getFileSystem(conf);
    long events;
    try {
      events = writeFile(rows, partial, conf);
    } catch (IOException | RuntimeException | Error failure) {
      fs.delete(partial, false); // a failed attempt leaves nothing in the folder
      throw failure;
    }
    // an earlier attempt of this task may have finished the same file: same rows, same bytes
    if (!fs.rename(partial, target)) {
      fs.delete(target, false);
      if (!fs.rename(partial, target)) {
        throw new IOException("cannot move " + partial + " to " + target);
      }
    }
    return Collections.singletonList(events).iterator();
  }

  private long writeFile(Iterator<InternalRow> rows, Path path, Configuration conf)
      throws IOException {
    MessageType schema = MessageTypeParser.parseMessageType(parquetSchema);
    List<ColumnDescriptor> descriptors = schema.getColumns();
    int columns = descriptors.size();
    ParquetProperties.Builder builder =
        ParquetProperties.builder()
            .withWriterVersion(ParquetProperties.WriterVersion.PARQUET_1_0)
            .withDictionaryEncoding(true)
            .withSizeStatisticsEnabled(false)
            .withValuesWriterFactory(new RunValuesWriterFactory());
    for (int c = 0; c < columns; c++) {
      String name = descriptors.get(c).getPath()[0];
      if (kinds[c] == COPY) {
        // a row's strings repeat in all its events: dictionary ids, written as runs; their
        // min/max would compare the bytes of every value, and no reader prunes on them
        builder = builder.withStatisticsEnabled(name, false);
      } else {
        // dates and shares vary per event: plain values, which zstd packs smaller than
        // dictionary ids (measured: 1.67 vs 1.86 bytes per prescription event) and sooner
        builder = builder.withDictionaryEncoding(name, false);
      }
    }
    ParquetProperties props = builder.build();
    int[] maxDefinition = new int[columns];
    RunColumn[] runs = new RunColumn[columns];
    List<Type> perEvent = new ArrayList<>();
    for (int c = 0; c < columns; c++) {
      maxDefinition[c] = descriptors.get(c).getMaxDefinitionLevel();
      if (kinds[c] == SHARE) {
        runs[c] = new RunColumn(descriptors.get(c));
      } else {
        perEvent.add(schema.getType(c));
      }
    }
    // the columns written an event at a time, through parquet-mr's column writers
    MessageType perEventSchema = new MessageType(schema.getName(), perEvent);
    int days = LocalDate.of(year, 12, 31).getDayOfYear();
    int firstDay = (int) LocalDate.of(year, 1, 1).toEpochDay();

    long rowGroupBytes = conf.getLong("parquet.block.size", ROW_GROUP_BYTES);
    CodecFactory codecs = new CodecFactory(conf, props.getPageSizeThreshold());
    CompressionCodecFactory.BytesInputCompressor compressor =
        codecs.getCompressor(CompressionCodecName.ZSTD);
    ParquetFileWriter file =
        new ParquetFileWriter(
            HadoopOutputFile.fromPath(path, conf),
            schema,
            ParquetFileWriter.Mode.OVERWRITE,
            rowGroupBytes,
            0,
            null,
            props);
    file.start();
    long total = 0;
    long inGroup = 0;
    long sinceCheck = 0;
    RowGroup group = null;
    RowGroup.Layout layout = new RowGroup.Layout(props, schema, perEventSchema, compressor, runs);
    ColumnWriter[] writers = new ColumnWriter[columns];
    Binary[] copies = new Binary[columns];
    long[] lo = new long[columns];
    long[] extra = new long[columns];
    boolean[] absent = new boolean[columns];
    try {
      while (rows.hasNext()) {
        InternalRow row = rows.next();
        if (group == null) {
          group = new RowGroup(layout, writers);
        }
        long n = 0;
        long start = 0;
        for (int c = 0; c < columns; c++) {
          switch (kinds[c]) {
            case COPY:
              UTF8String value = row.isNullAt(first[c]) ? null : row.getUTF8String(first[c]);
              copies[c] = value == null ? null : Binary.fromConstantByteArray(value.getBytes());
              break;
            case DATE:
              start = field(row, first[c], inputNames);
              n = field(row, second[c], inputNames);
              break;
            default:
              absent[c] = nullable[c] && row.isNullAt(first[c]);
              if (!absent[c]) {
                long sum = field(row, first[c], inputNames);
                long events = field(row, second[c], inputNames);
                lo[c] = sum / events;
                extra[c] = sum % events;
              }
          }
        }
        for (int c = 0; c < columns; c++) {
          if (runs[c] == null) {
            continue;
          } else if (absent[c]) {
            runs[c].nulls(n);
          } else {
            runs[c].shares(lo[c], extra[c], n);
          }
        }
        for (long i = 0; i < n; i++) {
          for (int c = 0; c < columns; c++) {
            ColumnWriter writer = writers[c];
            switch (kinds[c]) {
              case COPY:
                if (copies[c] == null) {
                  writer.writeNull(0, 0);
                } else {
                  writer.write(copies[c], 0, maxDefinition[c]);
                }
                break;
              case DATE:
                writer.write(
                    firstDay + (int) ((start + i * days / n) % days), 0, maxDefinition[c]);
                break;
              default: // a run column, written above
            }
          }
          group.store.endRecord();
        }
        inGroup += n;
        sinceCheck += n;
        // a row group ends between two source rows: the run columns hold the whole row
        if (sinceCheck >= SIZE_CHECK_EVENTS) {
          sinceCheck = 0;
          if (group.bufferedSize() >= rowGroupBytes) {
            group.flush(file, inGroup);
            total += inGroup;
            inGroup = 0;
            group = null;
          }
        }
      }
      if (group != null && inGroup > 0) {
        group.flush(file, inGroup);
        total += inGroup;
      }
      Map<String, String> metadata = new HashMap<>();
      metadata.put("org.apache.spark.version", sparkVersion);
      metadata.put("org.apache.spark.sql.parquet.row.metadata", sparkSchemaJson);
      file.end(metadata);
    } catch (IOException | RuntimeException | Error failure) {
      file.abort();
      throw failure;
    } finally {
      codecs.release();
    }
    return total;
  }

  /** A number the events are computed from: never null in cleaned data (step 1 quarantines). */
  private static long field(InternalRow row, int ordinal, String[] names) {
    if (row.isNullAt(ordinal)) {
      throw new IllegalStateException(
          "a cleaned row has no " + names[ordinal] + ": step 1 quarantines rows without the "
              + "totals their events are built from, so the clean data is not step 1's output");
    }
    return row.getLong(ordinal);
  }

  /**
   * The column writers of one row group, and the pages they fill: parquet-mr's for the columns
   * written an event at a time, {@link RunColumn}s for the others.
   */
  private static final class RowGroup {
    /** What every row group of a file is made of. */
    record Layout(
        ParquetProperties props,
        MessageType schema,
        MessageType perEventSchema,
        CompressionCodecFactory.BytesInputCompressor compressor,
        RunColumn[] runs) {}

    final Layout layout;
    final ColumnChunkPageWriteStore pages;
    final ColumnWriteStore store;

    RowGroup(Layout layout, ColumnWriter[] writers) {
      this.layout = layout;
      ParquetProperties props = layout.props();
      pages =
          new ColumnChunkPageWriteStore(
              layout.compressor(),
              layout.schema(),
              props.getAllocator(),
              props.getColumnIndexTruncateLength());
      store = props.newColumnWriteStore(layout.perEventSchema(), pages, pages);
      List<ColumnDescriptor> descriptors = layout.schema().getColumns();
      for (int c = 0; c < writers.length; c++) {
        ColumnDescriptor descriptor = descriptors.get(c);
        if (layout.runs()[c] == null) {
          writers[c] = store.getColumnWriter(descriptor);
        } else {
          writers[c] = null;
          layout.runs()[c].startRowGroup(pages.getPageWriter(descriptor));
        }
      }
    }

    long bufferedSize() {
      long size = store.getBufferedSize();
      for (RunColumn run : layout.runs()) {
        size += run == null ? 0 : run.bufferedSize();
      }
      return size;
    }

    void flush(ParquetFileWriter file, long events) throws IOException {
      file.startBlock(events);
      store.flush();
      for (RunColumn run : layout.runs()) {
        if (run != null) {
          run.flushPage();
        }
      }
      pages.flushToFileWriter(file);
      file.endBlock();
      store.close();
      pages.close();
    }
  }
}

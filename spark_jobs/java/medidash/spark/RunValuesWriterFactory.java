package medidash.spark;

import org.apache.parquet.bytes.ByteBufferAllocator;
import org.apache.parquet.column.ColumnDescriptor;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.column.ParquetProperties;
import org.apache.parquet.column.values.ValuesWriter;
import org.apache.parquet.column.values.dictionary.DictionaryValuesWriter;
import org.apache.parquet.column.values.factory.DefaultValuesWriterFactory;
import org.apache.parquet.column.values.factory.ValuesWriterFactory;
import org.apache.parquet.column.values.fallback.FallbackValuesWriter;
import org.apache.parquet.column.values.plain.PlainValuesWriter;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;

/**
 * parquet-mr's version 1 value writers, except that a string column's dictionary writer knows
 * the value it wrote last: the events of one source row repeat the row's strings (the same
 * {@link Binary} object), and each repeat is written as the dictionary id of the previous value
 * instead of hashing and comparing the bytes again. The pages are the ones parquet-mr's own
 * writer makes: the same dictionary, the same ids, the same fallback to plain encoding.
 */
final class RunValuesWriterFactory implements ValuesWriterFactory {
  private final DefaultValuesWriterFactory defaults = new DefaultValuesWriterFactory();
  private ParquetProperties props;

  @Override
  public void initialize(ParquetProperties properties) {
    props = properties;
    defaults.initialize(properties);
  }

  @Override
  public ValuesWriter newValuesWriter(ColumnDescriptor column) {
    if (column.getPrimitiveType().getPrimitiveTypeName() != PrimitiveTypeName.BINARY
        || props.getWriterVersion() != ParquetProperties.WriterVersion.PARQUET_1_0
        || !props.isDictionaryEnabled(column)) {
      return defaults.newValuesWriter(column);
    }
    ByteBufferAllocator allocator = props.getAllocator();
    return FallbackValuesWriter.of(
        new RepeatedBinaryDictionaryWriter(props.getDictionaryPageSizeThreshold(), allocator),
        new PlainValuesWriter(props.getInitialSlabSize(), props.getPageSizeThreshold(), allocator));
  }

  /** A binary dictionary writer that writes a repeat of the last value without a lookup. */
  static final class RepeatedBinaryDictionaryWriter
      extends DictionaryValuesWriter.PlainBinaryDictionaryValuesWriter {
    private Binary last;
    private int lastId;
    private boolean full;

    @SuppressWarnings("deprecation") // version 1 pages name their dictionary PLAIN_DICTIONARY
    RepeatedBinaryDictionaryWriter(int maxDictionaryByteSize, ByteBufferAllocator allocator) {
      super(maxDictionaryByteSize, Encoding.PLAIN_DICTIONARY, Encoding.PLAIN_DICTIONARY, allocator);
    }

    @Override
    public void writeBytes(Binary value) {
      if (value == last) {
        encodedValues.add(lastId);
        return;
      }
      super.writeBytes(value);
      last = value;
      lastId = binaryDictionaryContent.getInt(value);
      full = super.shouldFallBack();
    }

    /** Only a new value can make the dictionary too big. */
    @Override
    public boolean shouldFallBack() {
      return full;
    }

    @Override
    protected void clearDictionaryContent() {
      last = null;
      full = false;
      super.clearDictionaryContent();
    }
  }
}

package medidash.spark;

import org.apache.spark.sql.api.java.UDF3;

/**
 * The fields of a record that is plainly formed, or null: ingest's fast path in front of the
 * CSV parser (Spark's {@code from_csv}, univocity), which reads every other record.
 *
 * <p>A record is plainly formed when it has exactly {@code n} fields, each one either unquoted
 * and free of quotes, or wholly quoted (a quote, then anything but a lone quote, with a quote
 * written twice standing for one, then a closing quote right before the delimiter or the
 * record's end), and it holds no line break. For such a record the CSV parser, with ingest's
 * options (RFC 4180 quoting, no trimming, an empty field read as null), returns exactly these
 * fields; {@code tests/unit/test_spark_transforms.py} checks the two agree on every record of a
 * corpus of well- and ill-formed ones. Anything else (a stray quote, text after a closing
 * quote, a wrong field count, an unclosed quote, a line break inside quotes) returns null and
 * is left to the parser, so the fast path never decides a malformed record's fate.
 */
public final class SimpleRecord implements UDF3<String, String, Integer, String[]> {
  private static final long serialVersionUID = 1L;

  @Override
  public String[] call(String record, String delimiter, Integer fields) {
    if (record == null) {
      return null;
    }
    final char sep = delimiter.charAt(0);
    final int n = fields;
    final int length = record.length();
    final String[] out = new String[n];
    int field = 0;
    int at = 0;
    while (true) {
      if (field == n) {
        return null; // a field too many
      }
      if (at < length && record.charAt(at) == '"') {
        StringBuilder value = null;
        int from = at + 1;
        int i = from;
        while (true) {
          final int quote = record.indexOf('"', i);
          if (quote < 0) {
            return null; // unclosed
          }
          if (quote + 1 < length && record.charAt(quote + 1) == '"') {
            if (value == null) {
              value = new StringBuilder(quote - from + 16);
            }
            value.append(record, from, quote + 1);
            from = quote + 2;
            i = from;
            continue;
          }
          final String text;
          if (value == null) {
            text = record.substring(at + 1, quote);
          } else {
            value.append(record, from, quote);
            text = value.toString();
          }
          if (hasLineBreak(text)) {
            return null;
          }
          out[field++] = text.isEmpty() ? null : text;
          at = quote + 1;
          break;
        }
        if (at == length) {
          return field == n ? out : null;
        }
        if (record.charAt(at) != sep) {
          return null; // text after the closing quote
        }
        at++;
      } else {
        int end = record.indexOf(sep, at);
        if (end < 0) {
          end = length;
        }
        for (int i = at; i < end; i++) {
          final char c = record.charAt(i);
          if (c == '"' || c == '\n' || c == '\r') {
            return null;
          }
        }
        out[field++] = end == at ? null : record.substring(at, end);
        if (end == length) {
          return field == n ? out : null;
        }
        at = end + 1;
      }
    }
  }

  private static boolean hasLineBreak(String text) {
    return text.indexOf('\n') >= 0 || text.indexOf('\r') >= 0;
  }
}

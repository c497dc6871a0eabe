"""The bounds every importer holds its input to, so no file can take unbounded time or memory.

The README's "Importing and exporting" section states them; a record past one is refused with
its file, line and field.
"""

MIB = 1 << 20

MAX_RECORD_BYTES = 16 * MIB  # one line of JSONL/TSV/qrels, one CSV record, one file of a folder
MAX_RECORD_LINES = 10_000  # lines one CSV record (a quoted field) may span: past it, a quote was left open
MAX_DOCUMENT_CHARS = 5_000_000  # a document's text (about a 2,000-page book)
MAX_QUERY_CHARS = 1_000  # a query's text: a search, not a document
MAX_NARRATIVE_CHARS = 10_000  # a query's narrative: a paragraph or two of intent
MAX_FRONT_MATTER_BYTES = 64 * 1024  # YAML front matter of a Markdown or text file
MAX_NESTING = 32  # lists and mappings inside one another in a record's extra metadata
MAX_INTEGER_DIGITS = 100  # a number in JSON or YAML (Python refuses over 4,300 digits, without a position)
BATCH_CHARS = 20_000_000  # text held in memory per write batch, whatever the batch's row count
MAX_ZIP_ENTRIES = 100_000  # files in an uploaded zip of a folder
MAX_ZIP_BYTES = 4096 * MIB  # a zip's files, unpacked
MAX_RUN_DEPTH = 10_000  # a run file's top-k per query, as a benchmark's pool takes it

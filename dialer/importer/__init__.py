"""Lead import: CSV/XLSX -> normalised, de-duplicated, DNC-scrubbed leads, with a row-level report."""

from dialer.importer.parse import ImportFileError
from dialer.importer.pipeline import LeadStore, MemoryStore, import_file
from dialer.importer.report import ImportIssue, ImportReport

__all__ = ["ImportFileError", "ImportIssue", "ImportReport", "LeadStore", "MemoryStore", "import_file"]

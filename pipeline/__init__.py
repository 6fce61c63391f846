"""Evidence-tracking literature pipeline: dry needling for headache, PubMed → SQLite."""

__version__ = "0.1.0"

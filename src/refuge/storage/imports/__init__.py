"""Archives made elsewhere brought in as captures (`refuge import`): WARC files from wget,
browsertrix, pywb's recorder or Heritrix, and WACZ packages.

    sources    the files given, told apart by their bytes, copied (or, from a WACZ, extracted)
               byte for byte into a staging folder; a WACZ's hashes and signature checked
    staging    the staging folder beside the target's captures, renamed into place whole;
               what a crashed import leaves, removed by the next one
    importer   one import: every file checked whole (storage.warc.validate) before any of
               it is kept, then files, index and capture recorded in one transaction

The kept files are the files given, byte for byte, indexed like a capture's sealed files;
from then on an imported capture is replicated, replayed, exported, verified and
published like any other.
"""

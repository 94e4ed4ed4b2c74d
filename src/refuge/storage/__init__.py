"""Where bytes live and how they are found.

    catalog/    the database (SQLite or PostgreSQL): targets, captures, sealed files, the
                CDX index of every record, replicas, database snapshots, mirrors
    warc/       reading records and payloads from WARC files; sealing and indexing files
    stores/     one interface, three stores (local disk, S3, IPFS), and the CID builder
    imports/    archives made elsewhere (WARC, WACZ) checked whole, kept byte for byte, one capture
    replicate   copying sealed files to every store, with a queue that survives failures
    fixity      re-reading every copy and recording what was found
    manifest    a capture's manifest: every file, its SHA-256 and CID
    wacz/       a capture as a signed WACZ package, and checking one
    keyfiles    secret key files under DATA/keys: made once, owner-only, one per cluster

Nothing here fetches from the web or serves readers.
"""

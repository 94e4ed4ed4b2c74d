"""Where copies of sealed files live: one small interface (interface: Store, FileRef, the
errors, open_store) and three stores, local disk (local), any S3-compatible service (s3) and
an IPFS node's RPC API (ipfs), plus the CIDv1 a file gets on IPFS, computed offline (cid)."""

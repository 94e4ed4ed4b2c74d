"""Putting a target's static export where readers can reach it, and telling them where:
publisher (``refuge publish``) exports the newest capture and describes its files (tree),
uploads them to S3 (upload_s3: by hash, in waves, stale keys deleted last) and to IPFS
(upload_ipfs: one pinned directory linked in MFS), records every mirror URL in the
catalog, and rebuilds the signed mirror list (mirror_list, signed by signing in
minisign's format, stored through storage.mirror_files); check and reach fetch every
mirror from every vantage point and compare what comes back with what was published;
car writes a published IPFS mirror as one CAR file to carry (``refuge bundle --format car``).
Buckets and nodes are reached only through the stores' public operations; publish may
use mirror.export, and nothing outside publish and cli imports it.
"""

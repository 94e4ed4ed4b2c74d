"""WACZ packages of captures (`refuge wacz`, `refuge verify FILE.wacz`): one capture as one
signed file that ReplayWeb.page opens and the `wacz` tools validate.

    package    writing a capture as a WACZ 1.1.1 zip: its WARC files byte for byte, the
               CDXJ index, the page list, datapackage.json and its signed digest
    index      the capture's CDXJ lines, sorted, from the catalog
    pages      pages/pages.jsonl: every HTML page with its title and text
    originals  the earlier captures' records the capture's revisits stand for, copied in
    signing    the anonymous WACZ signature (ECDSA over the datapackage digest) and its key
    verify     checking a package offline: every hash and size, the digest, the signature
    zipcheck   what a zip must be before anything in it is read (hostile packages)
    warccheck  the WARC files inside, read through warcio with bounded memory

Why here, in storage, and not beside the ZIM and CAR bundles in mirror/export: a WACZ is
not a reader's copy of a site but the archive's own bytes (the sealed WARC files, the
catalog's index) with their hashes and a signature, made from and checked against what
storage keeps; and `refuge import` (storage.imports) checks a WACZ it is given with the
same verify, which it could not reach in mirror/.
"""

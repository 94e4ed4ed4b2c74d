"""Reading the web's formats, with no I/O: URLs and SURT keys (urls), charsets (charset), CSS
links (css), database listings and records (dbextract), CAR v1 files and the IPLD blocks in
them (car), the names of a browser capture's rendered DOM and screenshot records
(rendered), and HTML (html/: the tokenizer, the links a crawler follows, the one rewriter).
Imports nothing of Refuge's but config."""

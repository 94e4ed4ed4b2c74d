"""Reading the web's formats, with no I/O: URLs and SURT keys (urls), charsets (charset), CSS
links (css), database listings and records (dbextract), and HTML (html/: the tokenizer, the
links a crawler follows, the one rewriter). Imports nothing of Refuge's but config."""

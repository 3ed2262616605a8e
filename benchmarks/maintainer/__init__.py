"""Maintainer tools: two revisions head to head (``bm_ab``), and beside the original release
(``bm_original``)."""

"""One module per kind of page the URL can name: a geography (state, ZIP, practice)."""

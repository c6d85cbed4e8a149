"""One module per kind of page the URL can name: a geography (`geo`: nation, state, ZIP,
practice), a provider (`provider`), a HCPCS code or a generic drug (`product`); `common` holds
what they share (a table with its export, the year series)."""

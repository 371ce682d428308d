"""Web side of the live wallboard: monitor requests (listen / whisper / barge) and page helpers.

The snapshot itself is computed by ``python -m dialer.aggregator`` (see :mod:`dialer.wallboard`)
and pushed by :mod:`app.push`; nothing here queries per viewer.
"""

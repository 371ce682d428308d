"""The live wallboard's pure core: the snapshot the aggregator publishes and the alert rules.

It lives under ``dialer/`` (not ``app/``) because the aggregator (``python -m dialer.aggregator``)
computes it and nothing may import ``app`` (ARCHITECTURE.md, dependency direction). The web side
(``app/wallboard``, ``assets/wallboard.js``) only renders what is published here.
"""

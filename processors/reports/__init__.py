"""The leadership report: what happened in the province in a day, a week or a month.

Layout (docs/architecture.md, "Reports"): `period.py` (which local days a report covers),
one module per section (`environment`, `warnings`, `security`, `cameras`, `platform`),
each a pure function from the rows of store/reports.py's queries to a `Section`;
`charts.py` (matplotlib → SVG), `html.py` (the page, string.Template), `pdf.py`
(WeasyPrint), `build.py` (queries → sections → HTML → PDF), `delivery.py` (the e-mail).
"""

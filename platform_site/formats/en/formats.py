"""English date formats for the merchant UI, over Django's "en" ones.

Django's short English date is the American 12/01/2026, which a store in Shanghai or Berlin
reads as the 12th of January. Lists and tables show the unambiguous ISO order instead; the
long format ("Dec. 1, 2026, 2:07 a.m.") spells the month out and stays as Django has it.
"""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"

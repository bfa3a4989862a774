"""ITK's DICOM (GDCM) code switches the process's C locale to "C" and does not always switch it back; Python then
takes ASCII for the locale's text encoding, and every later open()/write_text() of a name or a report with a
non-ASCII character fails (seen after writing a DICOM series: ANSI_X3.4-1968 from then on). Calls into it run
inside keep_locale(), which puts the locale back as it was."""

from __future__ import annotations

import locale
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keep_locale() -> Iterator[None]:
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        if locale.setlocale(locale.LC_ALL) != saved:
            locale.setlocale(locale.LC_ALL, saved)

"""Keep build-argument values out of logs and error messages.

Values are substituted into the definition as Apptainer does (they end up in the embedded def and
in the commands), but what defkit itself reports, events and errors, shows `***` instead: a
`--build-arg TOKEN=...` must not leak into CI logs. Values shorter than 3 characters are left
alone (masking every "1" would make the log unreadable and protect nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from defkit.build.context import Event, ProgressCallback

MASK = "***"
MIN_LENGTH = 3


class Redactor:
    def __init__(self, values: Iterable[str]) -> None:
        # Longest first, so a value containing another is masked whole.
        self.values = sorted({v for v in values if len(v) >= MIN_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def event(self, event: Event) -> Event:
        if not self.values:
            return event
        changes = {f.name: self(getattr(event, f.name)) for f in dataclasses.fields(event)
                   if isinstance(getattr(event, f.name), str)}
        return dataclasses.replace(event, **changes)

    def wrap(self, progress: ProgressCallback) -> ProgressCallback:
        if not self.values:
            return progress

        def redacted(event: Event) -> None:
            progress(self.event(event))

        return redacted

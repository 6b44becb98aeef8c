"""A readable outline of a parsed file: stages, header entries, sections with line ranges."""

from __future__ import annotations

from defkit.model import DefFile


def outline(deffile: DefFile) -> str:
    lines: list[str] = []
    for number, stage in enumerate(deffile.stages, start=1):
        name = f" {stage.name!r}" if stage.name else ""
        lines.append(f"stage {number}{name} (lines {stage.span.line}-{stage.span.end_line})")
        for header_entry in stage.header:
            shown = header_entry.value.replace("\n", "\\n")
            lines.append(f"  {header_entry.span.line:>4}  {header_entry.raw_key}: {shown}")
        for section in stage.sections:
            args = f" {section.args}" if section.args else ""
            body_lines = section.body.count("\n")
            lines.append(
                f"  {section.header_span.line:>4}  {section.display_name}{args}"
                f"  ({body_lines} body line{'s' if body_lines != 1 else ''}, "
                f"to line {section.span.end_line})"
            )
            for entry in section.files:
                destination = f" -> {entry.destination}" if entry.destination else ""
                lines.append(f"  {entry.span.line:>4}    {entry.source}{destination}")
            for label in section.labels:
                lines.append(f"  {label.span.line:>4}    {label.key} = {label.value}")
            for argument in section.arguments:
                lines.append(f"  {argument.span.line:>4}    {argument.name} = {argument.value}")
    return "\n".join(lines)

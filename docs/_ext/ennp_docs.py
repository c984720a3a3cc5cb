"""Sphinx directives that generate ennp's reference tables from the code itself.

``{config-fields} ennp.heat.config.HeatConfig``: one table per section of a config
dataclass (name, type, default, meaning), nested sections after their parent, so the
documented fields are the fields the loader accepts.

``{cli-help} heat run``: the ``--help`` text of an ``ennp`` verb.
"""

from __future__ import annotations

import importlib
from dataclasses import fields, is_dataclass

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from typing import get_type_hints

from ennp.config import field_table


def _import(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def sections(cls, prefix: str = "") -> list[tuple[str, type]]:
    """(dotted section name, dataclass) for ``cls`` and every dataclass field below it."""
    out = [(prefix, cls)]
    hints = get_type_hints(cls)
    for f in fields(cls):
        hint = hints[f.name]
        name = f"{prefix}.{f.name}" if prefix else f.name
        items = [a for a in getattr(hint, "__args__", ()) if a is not Ellipsis]
        optional = [a for a in items if a is not type(None)] if type(None) in items else []
        if is_dataclass(hint):
            out += sections(hint, name)
        elif len(optional) == 1 and is_dataclass(optional[0]):    # a section that may be left out
            out += sections(optional[0], name)
        elif len(items) == 1 and is_dataclass(items[0]):    # a list of sections
            out += sections(items[0], f"{name}[]")
    return out


def _table(rows: list[dict]) -> nodes.table:
    columns = ("name", "type", "default", "meaning")
    table = nodes.table(classes=["ennp-fields"])
    group = nodes.tgroup(cols=len(columns))
    table += group
    for width in (18, 12, 18, 52):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for c in columns:
        row += nodes.entry("", nodes.paragraph(text=c))
    head += row
    body = nodes.tbody()
    group += body
    for r in rows:
        row = nodes.row()
        for c in columns:
            text = r[c]
            para = nodes.paragraph()
            para += nodes.literal(text=text) if c in ("name", "default") and text else nodes.Text(text)
            row += nodes.entry("", para)
        body += row
    return table


def config_nodes(cls, top: str = "") -> list[nodes.Node]:
    """A titled table per section of ``cls`` (a rubric names the section as written in YAML)."""
    out = []
    for name, section in sections(cls):
        title = f"{top}{name}" if name else (top.rstrip(".") or "top level")
        out.append(nodes.rubric(text=f"{title}  ({section.__name__})"))
        out.append(_table(field_table(section)))
    return out


class ConfigFields(Directive):
    required_arguments = 1
    option_spec = {"prefix": directives.unchanged}

    def run(self):
        cls = _import(self.arguments[0])
        if not is_dataclass(cls):
            raise self.error(f"{self.arguments[0]} is not a dataclass")
        prefix = self.options.get("prefix", "")
        return config_nodes(cls, f"{prefix}." if prefix else "")


class CliHelp(Directive):
    required_arguments = 0
    final_argument_whitespace = True
    optional_arguments = 2

    def run(self):
        import argparse

        from ennp.cli import parser

        p = parser()
        for word in self.arguments:
            actions = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
            if not actions or word not in actions[0].choices:
                raise self.error(f"ennp {' '.join(self.arguments)}: no such verb")
            p = actions[0].choices[word]
        return [nodes.literal_block(text=p.format_help(), language="text")]


def setup(app):
    app.add_directive("config-fields", ConfigFields)
    app.add_directive("cli-help", CliHelp)
    return {"parallel_read_safe": True, "version": "1"}

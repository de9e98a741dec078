"""Builds the message catalogues: each ``.po`` under ``customergroup_rpc/locale`` compiled to
its ``.mo`` with Babel whenever the package is built, so every install (a wheel, ``pip install
-e``, ``make serve``, ``make test``) has them. The ``.mo`` files are build output (ignored by
git), so a wheel takes them in by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class Catalogues(BuildHookInterface):  # type: ignore[type-arg]  # generic in hatchling
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        for po in sorted((root / "customergroup_rpc" / "locale").glob("*/LC_MESSAGES/*.po")):
            mo = po.with_suffix(".mo")
            with po.open("rb") as source:
                catalogue = read_po(source)
            with mo.open("wb") as target:
                write_mo(target, catalogue)
            if version != "editable":  # an editable install reads the source tree itself
                build_data["force_include"][str(mo)] = str(mo.relative_to(root))
